//! The ONNX Runtime backend. The library is loaded at run time (`ort`'s `load-dynamic`) with
//! `ort::init_from`, so a missing or too old `libonnxruntime.so` is an error the caller can act
//! on (fall back to tract, or report), never a panic.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{DynMapValueType, DynValue, TensorElementType, ValueType};

use super::{check_len, BackendKind, Engine, Runner};
use crate::serving::tensor::{DType, Data, Kind, MapKeys, Spec, Tensor, Value, ZipMap};

/// The ONNX Runtime release whose PyPI wheel the scripts fetch.
pub const ORT_VERSION: &str = "1.31.1";

/// What to tell a user whose ONNX Runtime did not load.
pub const HOW_TO_GET: &str = "To use ONNX Runtime, point ORT_DYLIB_PATH at libonnxruntime.so (1.31 or newer; scripts/fetch-onnxruntime.sh extracts it from the onnxruntime 1.31.1 wheel on PyPI) or put it next to the weir binary";

/// Where to look for the library, in order: `ORT_DYLIB_PATH` (alone, when set), next to the
/// binary, then the cache directory `scripts/fetch-onnxruntime.sh` fills.
pub fn library_candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return vec![std::path::absolute(&p).unwrap_or(p)];
    }
    let names = [
        "libonnxruntime.so".to_owned(),
        format!("libonnxruntime.so.{ORT_VERSION}"),
        "libonnxruntime.so.1".to_owned(),
        "libonnxruntime.dylib".to_owned(),
    ];
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for n in &names {
            out.push(dir.join(n));
        }
        if let Some(up) = dir.parent() {
            out.push(up.join("lib").join("libonnxruntime.so"));
        }
    }
    let cache = std::env::var_os("WEIR_CACHE_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weir")));
    if let Some(cache) = cache {
        out.push(
            cache
                .join(format!("onnxruntime-{ORT_VERSION}"))
                .join(format!("libonnxruntime.so.{ORT_VERSION}")),
        );
    }
    out
}

fn init() -> Result<Environment, String> {
    let candidates = library_candidates();
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "libonnxruntime.so not found (looked at {})",
            tried.join(", ")
        ));
    };
    let builder = ort::init_from(path)
        .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?;
    let env = builder
        .with_name("weir")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("cannot start ONNX Runtime: {e}"))?;
    // ONNX Runtime's info level narrates every graph transformer: keep its warnings only.
    env.set_log_level(ort::logging::LogLevel::Warning);
    tracing::info!(library = %path.display(), "ONNX Runtime loaded");
    Ok(env)
}

/// The process-wide ONNX Runtime environment, loaded on first use.
pub fn environment() -> Result<&'static Environment, String> {
    static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(init).as_ref().map_err(Clone::clone)
}

fn dtype(t: TensorElementType) -> Option<DType> {
    Some(match t {
        TensorElementType::Float32 => DType::F32,
        TensorElementType::Float64 => DType::F64,
        TensorElementType::Int8 => DType::I8,
        TensorElementType::Int16 => DType::I16,
        TensorElementType::Int32 => DType::I32,
        TensorElementType::Int64 => DType::I64,
        TensorElementType::Uint8 => DType::U8,
        TensorElementType::Uint16 => DType::U16,
        TensorElementType::Uint32 => DType::U32,
        TensorElementType::Uint64 => DType::U64,
        TensorElementType::Bool => DType::Bool,
        TensorElementType::String => DType::Str,
        _ => return None,
    })
}

fn spec(name: &str, ty: &ValueType, what: &str) -> Result<Spec, String> {
    let unsupported =
        || format!("the model's {what} '{name}' has type {ty}, which Weir cannot serve");
    let kind = match ty {
        ValueType::Tensor { ty, shape, .. } => Kind::Tensor {
            dtype: dtype(*ty).ok_or_else(unsupported)?,
            shape: shape.iter().copied().collect(),
        },
        ValueType::Sequence(inner) => match inner.as_ref() {
            ValueType::Map {
                key,
                value: TensorElementType::Float32,
            } if what == "output" => Kind::ZipMap {
                string_keys: *key == TensorElementType::String,
            },
            _ => return Err(unsupported()),
        },
        _ => return Err(unsupported()),
    };
    Ok(Spec {
        name: name.to_owned(),
        kind,
    })
}

/// Load a model: one session per worker, one intra-op thread each (measured faster here than ONNX
/// Runtime's default thread pool for small models, and it keeps the worker count the only knob).
pub fn load(path: &Path, workers: usize) -> Result<Engine, String> {
    let env = environment()?;
    let open = || -> Result<Session, String> {
        Session::builder(env)
            .map_err(|e| e.to_string())?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| e.to_string())?
            .with_intra_threads(1)
            .map_err(|e| e.to_string())?
            .with_inter_threads(1)
            .map_err(|e| e.to_string())?
            .commit_from_file(path)
            .map_err(|e| format!("ONNX Runtime cannot load {}: {e}", path.display()))
    };
    let first = open()?;
    let inputs = first
        .inputs()
        .iter()
        .map(|o| spec(o.name(), o.dtype(), "input"))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = first
        .outputs()
        .iter()
        .map(|o| spec(o.name(), o.dtype(), "output"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut runners: Vec<Box<dyn Runner>> = Vec::with_capacity(workers);
    let make = |session: Session| -> Box<dyn Runner> {
        Box::new(OrtRunner {
            session,
            input_names: inputs.iter().map(|s| s.name.clone()).collect(),
            output_names: outputs.iter().map(|s| s.name.clone()).collect(),
        })
    };
    runners.push(make(first));
    for _ in 1..workers {
        runners.push(make(open()?));
    }
    Ok(Engine {
        backend: BackendKind::Ort,
        columns: None,
        inputs,
        outputs,
        runners,
    })
}

struct OrtRunner {
    session: Session,
    input_names: Vec<String>,
    output_names: Vec<String>,
}

fn to_ort(t: Tensor) -> Result<DynValue, String> {
    check_len(&t)?;
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    macro_rules! prim {
        ($v:expr) => {
            ort::value::Tensor::from_array((shape, $v)).map(|t| t.into_dyn())
        };
    }
    let v = match t.data {
        Data::F32(v) => prim!(v),
        Data::F64(v) => prim!(v),
        Data::I8(v) => prim!(v),
        Data::I16(v) => prim!(v),
        Data::I32(v) => prim!(v),
        Data::I64(v) => prim!(v),
        Data::U8(v) => prim!(v),
        Data::U16(v) => prim!(v),
        Data::U32(v) => prim!(v),
        Data::U64(v) => prim!(v),
        Data::Bool(v) => prim!(v),
        Data::Str(v) => {
            ort::value::Tensor::from_string_array((shape, v.as_slice())).map(|t| t.into_dyn())
        }
    };
    v.map_err(|e| e.to_string())
}

fn from_ort(v: &DynValue) -> Result<Value, String> {
    fn dims(shape: &ort::value::Shape) -> Vec<usize> {
        shape
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect()
    }
    macro_rules! prim {
        ($t:ty, $variant:ident) => {{
            let (shape, data) = v.try_extract_tensor::<$t>().map_err(|e| e.to_string())?;
            Tensor::new(dims(shape), Data::$variant(data.to_vec()))
        }};
    }
    match v.dtype() {
        ValueType::Tensor { ty, .. } => Ok(Value::Tensor(match ty {
            TensorElementType::Float32 => prim!(f32, F32),
            TensorElementType::Float64 => prim!(f64, F64),
            TensorElementType::Int8 => prim!(i8, I8),
            TensorElementType::Int16 => prim!(i16, I16),
            TensorElementType::Int32 => prim!(i32, I32),
            TensorElementType::Int64 => prim!(i64, I64),
            TensorElementType::Uint8 => prim!(u8, U8),
            TensorElementType::Uint16 => prim!(u16, U16),
            TensorElementType::Uint32 => prim!(u32, U32),
            TensorElementType::Uint64 => prim!(u64, U64),
            TensorElementType::Bool => prim!(bool, Bool),
            TensorElementType::String => {
                let (shape, data) = v.try_extract_strings().map_err(|e| e.to_string())?;
                Tensor::new(dims(shape), Data::Str(data))
            }
            other => return Err(format!("output type {other} is not supported")),
        })),
        ValueType::Sequence(inner) => match inner.as_ref() {
            ValueType::Map { key, .. } => {
                let maps = v
                    .try_extract_sequence::<DynMapValueType>()
                    .map_err(|e| e.to_string())?;
                if *key == TensorElementType::String {
                    let rows = maps
                        .iter()
                        .map(|m| m.try_extract_key_values::<String, f32>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| e.to_string())?;
                    Ok(Value::ZipMap(zip_rows(rows, MapKeys::Str)))
                } else {
                    let rows = maps
                        .iter()
                        .map(|m| m.try_extract_key_values::<i64, f32>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| e.to_string())?;
                    Ok(Value::ZipMap(zip_rows(rows, MapKeys::I64)))
                }
            }
            other => Err(format!("output type sequence of {other} is not supported")),
        },
        other => Err(format!("output type {other} is not supported")),
    }
}

/// Rows of `(class, probability)` pairs into a [`ZipMap`], classes sorted (as ONNX Runtime's
/// `std::map` orders them, and as Python prints them).
fn zip_rows<K: Ord + Clone>(
    mut rows: Vec<Vec<(K, f32)>>,
    keys: impl FnOnce(Vec<K>) -> MapKeys,
) -> ZipMap {
    for r in &mut rows {
        r.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let classes: Vec<K> = rows
        .first()
        .map(|r| r.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut values = Vec::with_capacity(rows.len() * classes.len());
    for r in &rows {
        for (i, k) in classes.iter().enumerate() {
            let v = match r.get(i) {
                Some((rk, v)) if rk == k => *v,
                _ => r
                    .iter()
                    .find(|(rk, _)| rk == k)
                    .map_or(f32::NAN, |(_, v)| *v),
            };
            values.push(v);
        }
    }
    ZipMap {
        keys: keys(classes),
        values,
    }
}

impl Runner for OrtRunner {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Value>, String> {
        let feeds = self
            .input_names
            .iter()
            .zip(inputs)
            .map(|(n, t)| Ok((n.as_str(), to_ort(t)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let outputs = self.session.run(feeds).map_err(|e| e.to_string())?;
        self.output_names
            .iter()
            .map(|n| {
                let v = outputs
                    .get(n)
                    .ok_or_else(|| format!("ONNX Runtime returned no output '{n}'"))?;
                from_ort(v)
            })
            .collect()
    }
}
