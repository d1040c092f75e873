//! S3 (and S3-compatible stores: MinIO, SeaweedFS, Ceph) as an artifact repository.
//!
//! Configured the way MLflow users already do: `s3://bucket/prefix`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and `MLFLOW_S3_ENDPOINT_URL` for a custom endpoint
//! (which also switches to path-style addressing).
//!
//! Uploads stream through a bounded buffer: small bodies become one PutObject, larger ones a
//! multipart upload of `PART_SIZE` parts, so memory stays bounded whatever the file size.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream as S3Body;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::BytesMut;
use futures::{StreamExt, TryStreamExt};

use super::*;

/// Part size for streamed uploads (S3's minimum part size is 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Largest multipart part a client may send us in one request.
const MAX_CLIENT_PART: usize = 128 * 1024 * 1024;

/// `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    pub fn parse(uri: &str) -> Option<S3Location> {
        let rest = uri
            .strip_prefix("s3://")
            .or_else(|| uri.strip_prefix("s3a://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(S3Location {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

pub struct S3Repo {
    client: Client,
    loc: S3Location,
}

fn s3_error<E: std::fmt::Display>(context: &str, e: E) -> Error {
    Error::internal(context, e)
}

impl S3Repo {
    pub async fn open(loc: S3Location) -> anyhow::Result<S3Repo> {
        use aws_config::meta::region::RegionProviderChain;
        let region = RegionProviderChain::default_provider().or_else("us-east-1");
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(region)
            .load()
            .await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared);
        let endpoint = std::env::var("MLFLOW_S3_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL_S3"))
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .ok()
            .filter(|s| !s.is_empty());
        if let Some(ep) = endpoint {
            builder = builder.endpoint_url(ep).force_path_style(true);
        }
        Ok(S3Repo {
            client: Client::from_conf(builder.build()),
            loc,
        })
    }

    fn key(&self, p: &RelPath) -> String {
        let rel = p.as_string();
        match (self.loc.prefix.is_empty(), rel.is_empty()) {
            (true, _) => rel,
            (false, true) => self.loc.prefix.clone(),
            (false, false) => format!("{}/{}", self.loc.prefix, rel),
        }
    }

    /// The key prefix that lists the children of `p`.
    fn dir_prefix(&self, p: &RelPath) -> String {
        let k = self.key(p);
        if k.is_empty() {
            k
        } else {
            format!("{k}/")
        }
    }

    async fn put_parts(&self, key: &str, first: bytes::Bytes, mut body: ByteStream) -> Result<u64> {
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.loc.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                s3_error(
                    "starting an S3 multipart upload",
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let result: Result<u64> = async {
            let mut parts = Vec::new();
            let mut total = 0u64;
            let mut buf = BytesMut::from(&first[..]);
            let mut done = false;
            while !done {
                while buf.len() < PART_SIZE {
                    match body.next().await {
                        Some(chunk) => buf.extend_from_slice(
                            &chunk
                                .map_err(|e| Error::bad_request(format!("Upload failed: {e}")))?,
                        ),
                        None => {
                            done = true;
                            break;
                        }
                    }
                }
                if buf.is_empty() {
                    break;
                }
                let take = buf.len().min(PART_SIZE);
                let chunk = buf.split_to(take).freeze();
                total += chunk.len() as u64;
                let n = parts.len() as i32 + 1;
                let etag = self.upload_part(key, &upload_id, n, chunk).await?;
                parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
                if !buf.is_empty() {
                    done = false;
                }
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.loc.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| {
                    s3_error(
                        "completing an S3 multipart upload",
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            Ok(total)
        }
        .await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.loc.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        n: i32,
        data: bytes::Bytes,
    ) -> Result<String> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.loc.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(n)
            .body(S3Body::from(data))
            .send()
            .await
            .map_err(|e| {
                s3_error(
                    "uploading an S3 part",
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
        Ok(out.e_tag().unwrap_or_default().to_owned())
    }

    /// Key of a multipart upload's bookkeeping object.
    fn mpu_key(&self, upload_id: &str, name: &str) -> String {
        let base = format!("{}mpu/{upload_id}/{name}", RESERVED_PREFIX);
        if self.loc.prefix.is_empty() {
            base
        } else {
            format!("{}/{base}", self.loc.prefix)
        }
    }

    /// The upload must exist and belong to `path`.
    async fn check_upload_target(&self, path: &RelPath, upload_id: &str) -> Result<()> {
        let missing = || Error::not_found(format!("No multipart upload with id '{upload_id}'"));
        let out = self
            .client
            .get_object()
            .bucket(&self.loc.bucket)
            .key(self.mpu_key(upload_id, "target"))
            .send()
            .await
            .map_err(|_| missing())?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|_| missing())?
            .into_bytes();
        if bytes.as_ref() != path.as_string().as_bytes() {
            return Err(Error::invalid("The upload id does not belong to this path"));
        }
        Ok(())
    }

    async fn keys_under(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.loc.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| {
                    s3_error(
                        "listing S3 objects",
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(keys)
    }
}

/// Read a whole (bounded) body into memory.
async fn collect(mut body: ByteStream, limit: usize) -> Result<bytes::Bytes> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::bad_request(format!("Upload failed: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(Error::invalid(format!(
                "A multipart part may be at most {limit} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[async_trait]
impl ArtifactRepo for S3Repo {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.loc.bucket, self.loc.prefix)
    }

    async fn put(&self, path: &RelPath, mut body: ByteStream) -> Result<u64> {
        if path.is_root() {
            return Err(Error::invalid("Invalid path"));
        }
        let key = self.key(path);
        let mut buf = BytesMut::new();
        while buf.len() < PART_SIZE {
            match body.next().await {
                Some(chunk) => buf.extend_from_slice(
                    &chunk.map_err(|e| Error::bad_request(format!("Upload failed: {e}")))?,
                ),
                None => {
                    let n = buf.len() as u64;
                    self.client
                        .put_object()
                        .bucket(&self.loc.bucket)
                        .key(&key)
                        .body(S3Body::from(buf.freeze()))
                        .send()
                        .await
                        .map_err(|e| {
                            s3_error(
                                "writing an S3 object",
                                aws_sdk_s3::error::DisplayErrorContext(e),
                            )
                        })?;
                    return Ok(n);
                }
            }
        }
        self.put_parts(&key, buf.freeze(), body).await
    }

    async fn get(&self, path: &RelPath) -> Result<Download> {
        let key = self.key(path);
        match self
            .client
            .get_object()
            .bucket(&self.loc.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => {
                let len = out.content_length().map(|l| l as u64);
                let reader = out.body.into_async_read();
                let stream = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024);
                Ok(Download {
                    stream: Box::pin(stream),
                    len,
                })
            }
            Err(e) => {
                let missing = e
                    .as_service_error()
                    .map(|s| s.is_no_such_key())
                    .unwrap_or(false)
                    || e.raw_response()
                        .map(|r| r.status().as_u16() == 404)
                        .unwrap_or(false);
                if missing {
                    Err(Error::not_found(format!(
                        "No such artifact: '{}'",
                        path.as_string()
                    )))
                } else {
                    Err(s3_error(
                        "reading an S3 object",
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    ))
                }
            }
        }
    }

    async fn list(&self, dir: &RelPath) -> Result<Vec<FileInfo>> {
        let prefix = self.dir_prefix(dir);
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let resp = self
                .client
                .list_objects_v2()
                .bucket(&self.loc.bucket)
                .prefix(&prefix)
                .delimiter("/")
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| {
                    s3_error(
                        "listing S3 objects",
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            for p in resp.common_prefixes() {
                if let Some(name) = p.prefix().and_then(|k| k.strip_prefix(&prefix)) {
                    let name = name.trim_end_matches('/');
                    let reserved = dir.is_root() && name.starts_with(RESERVED_PREFIX);
                    if !name.is_empty() && !reserved {
                        out.push(FileInfo {
                            path: name.to_owned(),
                            is_dir: true,
                            file_size: None,
                        });
                    }
                }
            }
            for o in resp.contents() {
                if let Some(name) = o.key().and_then(|k| k.strip_prefix(&prefix)) {
                    if !name.is_empty() && !name.contains('/') {
                        out.push(FileInfo {
                            path: name.to_owned(),
                            is_dir: false,
                            file_size: o.size().map(|s| s as u64),
                        });
                    }
                }
            }
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    async fn delete(&self, path: &RelPath) -> Result<()> {
        if path.is_root() {
            return Err(Error::invalid("Refusing to delete the artifact root"));
        }
        let key = self.key(path);
        let mut keys = self.keys_under(&format!("{key}/")).await?;
        keys.push(key);
        for k in keys {
            self.client
                .delete_object()
                .bucket(&self.loc.bucket)
                .key(k)
                .send()
                .await
                .map_err(|e| {
                    s3_error(
                        "deleting an S3 object",
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
        }
        Ok(())
    }

    // Client parts may be smaller than S3's 5 MiB minimum (the client's chunk size is its own
    // choice), so each part is kept as a temporary object under `.weir-mpu/<upload_id>/` and
    // completion streams them, in order, into the final object through `put`.

    async fn mpu_create(&self, path: &RelPath) -> Result<String> {
        let id = new_upload_id();
        let marker = self.mpu_key(&id, "target");
        self.client
            .put_object()
            .bucket(&self.loc.bucket)
            .key(marker)
            .body(S3Body::from(path.as_string().into_bytes()))
            .send()
            .await
            .map_err(|e| {
                s3_error(
                    "starting a multipart upload",
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
        Ok(id)
    }

    async fn mpu_put_part(
        &self,
        path: &RelPath,
        upload_id: &str,
        part: i32,
        body: ByteStream,
    ) -> Result<String> {
        check_upload_id(upload_id)?;
        self.check_upload_target(path, upload_id).await?;
        let data = collect(body, MAX_CLIENT_PART).await?;
        let n = data.len();
        self.client
            .put_object()
            .bucket(&self.loc.bucket)
            .key(self.mpu_key(upload_id, &format!("{part:05}")))
            .body(S3Body::from(data))
            .send()
            .await
            .map_err(|e| {
                s3_error(
                    "storing a multipart part",
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
        Ok(format!("\"{upload_id}-{part}-{n}\""))
    }

    async fn mpu_complete(
        &self,
        path: &RelPath,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<()> {
        check_upload_id(upload_id)?;
        self.check_upload_target(path, upload_id).await?;
        let mut numbers: Vec<i32> = parts.iter().map(|p| p.0).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let client = self.client.clone();
        let bucket = self.loc.bucket.clone();
        let keys: Vec<String> = numbers
            .iter()
            .map(|n| self.mpu_key(upload_id, &format!("{n:05}")))
            .collect();
        // One part at a time, streamed: memory stays bounded whatever the file size.
        let stream = futures::stream::iter(keys)
            .then(move |key| {
                let client = client.clone();
                let bucket = bucket.clone();
                async move {
                    let out = client
                        .get_object()
                        .bucket(bucket)
                        .key(&key)
                        .send()
                        .await
                        .map_err(|e| {
                            std::io::Error::other(format!("multipart part {key} is missing: {e}"))
                        })?;
                    Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
                        out.body.into_async_read(),
                        256 * 1024,
                    ))
                }
            })
            .try_flatten();
        let result = self.put(path, Box::pin(stream)).await;
        self.mpu_abort(path, upload_id).await?;
        result.map(|_| ())
    }

    async fn mpu_abort(&self, _path: &RelPath, upload_id: &str) -> Result<()> {
        check_upload_id(upload_id)?;
        for key in self.keys_under(&self.mpu_key(upload_id, "")).await? {
            let _ = self
                .client
                .delete_object()
                .bucket(&self.loc.bucket)
                .key(key)
                .send()
                .await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            S3Location::parse("s3://bucket/a/b/"),
            Some(S3Location {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            })
        );
        assert_eq!(
            S3Location::parse("s3://bucket"),
            Some(S3Location {
                bucket: "bucket".into(),
                prefix: "".into()
            })
        );
        assert_eq!(S3Location::parse("/tmp/x"), None);
        assert_eq!(S3Location::parse("s3://"), None);
    }
}
