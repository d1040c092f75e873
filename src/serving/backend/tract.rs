//! The tract backend: pure Rust, nothing to install. Implements fewer ai.onnx.ml operators than
//! ONNX Runtime (notably not ZipMap, Scaler or TreeEnsembleRegressor) and is much slower on tree
//! ensembles, so `auto` prefers ONNX Runtime.
//!
//! ZipMap is worked around: a ZipMap node that feeds a graph output is cut off, the output is
//! taken from its input (the probability matrix), and the rows are zipped with the node's class
//! labels here, which is exactly what ZipMap computes.

use std::path::Path;
use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::{check_len, BackendKind, Engine, Runner};
use crate::serving::tensor::{DType, Data, Kind, MapKeys, Spec, Tensor, Value, ZipMap};

fn dtype_of_onnx(elem_type: i32) -> Option<DType> {
    use pb::tensor_proto::DataType as T;
    Some(match T::try_from(elem_type).ok()? {
        T::Float => DType::F32,
        T::Double => DType::F64,
        T::Int8 => DType::I8,
        T::Int16 => DType::I16,
        T::Int32 => DType::I32,
        T::Int64 => DType::I64,
        T::Uint8 => DType::U8,
        T::Uint16 => DType::U16,
        T::Uint32 => DType::U32,
        T::Uint64 => DType::U64,
        T::Bool => DType::Bool,
        T::String => DType::Str,
        _ => return None,
    })
}

fn datum(d: DType) -> DatumType {
    match d {
        DType::F32 => DatumType::F32,
        DType::F64 => DatumType::F64,
        DType::I8 => DatumType::I8,
        DType::I16 => DatumType::I16,
        DType::I32 => DatumType::I32,
        DType::I64 => DatumType::I64,
        DType::U8 => DatumType::U8,
        DType::U16 => DatumType::U16,
        DType::U32 => DatumType::U32,
        DType::U64 => DatumType::U64,
        DType::Bool => DatumType::Bool,
        DType::Str => DatumType::String,
    }
}

/// A tensor value's declared element type and shape (`-1` for a dynamic dimension).
fn tensor_type(v: &pb::ValueInfoProto) -> Option<(DType, Vec<i64>)> {
    let pb::type_proto::Value::TensorType(t) = v.r#type.as_ref()?.value.as_ref()?;
    let dtype = dtype_of_onnx(t.elem_type)?;
    let shape = t
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(pb::tensor_shape_proto::dimension::Value::DimValue(n)) if n >= 0 => n,
                    _ => -1,
                })
                .collect()
        })
        .unwrap_or_default();
    Some((dtype, shape))
}

/// How one model output is produced from the plan's outputs.
#[derive(Clone)]
enum OutputMap {
    Plain,
    /// Zip the probability matrix with these class labels.
    ZipMap(MapKeys),
}

fn zipmap_keys(node: &pb::NodeProto) -> Result<MapKeys, String> {
    for a in &node.attribute {
        match a.name.as_str() {
            "classlabels_int64s" => return Ok(MapKeys::I64(a.ints.clone())),
            "classlabels_strings" => {
                return Ok(MapKeys::Str(
                    a.strings
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ))
            }
            _ => {}
        }
    }
    Err(format!("ZipMap node '{}' has no class labels", node.name))
}

pub fn load(path: &Path, workers: usize) -> Result<Engine, String> {
    let onnx = tract_onnx::onnx();
    let proto = onnx
        .proto_model_for_path(path)
        .map_err(|e| format!("tract cannot read {}: {e}", path.display()))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| format!("{} has no graph", path.display()))?;

    // ZipMap nodes that produce a graph output, by that output's name.
    let zipmaps: Vec<(&str, &pb::NodeProto)> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "ZipMap")
        .filter_map(|n| {
            let out = n.output.first()?;
            graph
                .output
                .iter()
                .any(|o| o.name == *out)
                .then_some((out.as_str(), n))
        })
        .collect();
    let mut missing: Vec<&str> = graph
        .node
        .iter()
        .filter(|n| !onnx.op_register.0.contains_key(&n.op_type))
        .filter(|n| !(n.op_type == "ZipMap" && zipmaps.iter().any(|(_, z)| std::ptr::eq(*z, *n))))
        .map(|n| n.op_type.as_str())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        return Err(format!(
            "tract does not implement the ONNX operator(s) {}",
            missing.join(", ")
        ));
    }

    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<Spec> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(&i.name.as_str()))
        .map(|i| {
            let (dtype, shape) = tensor_type(i)
                .ok_or_else(|| format!("input '{}' is not a tensor tract can feed", i.name))?;
            Ok(Spec::tensor(&i.name, dtype, shape))
        })
        .collect::<Result<_, String>>()?;

    let mut model = onnx
        .model_for_proto_model(&proto)
        .map_err(|e| format!("tract cannot parse the model: {e:#}"))?;
    // Dynamic dimensions become one symbol per position, so any batch size runs.
    for (ix, spec) in inputs.iter().enumerate() {
        let Kind::Tensor { dtype, shape } = &spec.kind else {
            continue;
        };
        let dims: TVec<TDim> = shape
            .iter()
            .enumerate()
            .map(|(axis, &d)| {
                if d >= 0 {
                    TDim::from(d)
                } else {
                    model.symbols.sym(&format!("d{ix}_{axis}")).into()
                }
            })
            .collect();
        model
            .set_input_fact(ix, InferenceFact::dt_shape(datum(*dtype), dims))
            .map_err(|e| format!("tract: {e:#}"))?;
    }

    let mut outputs = Vec::new();
    let mut maps = Vec::new();
    let mut outlets = Vec::new();
    for o in &graph.output {
        let zip = zipmaps.iter().find(|(name, _)| *name == o.name);
        let (source, spec, map) = match zip {
            Some((_, node)) => {
                let keys = zipmap_keys(node)?;
                let source = node
                    .input
                    .first()
                    .ok_or_else(|| format!("ZipMap node '{}' has no input", node.name))?;
                let string_keys = matches!(keys, MapKeys::Str(_));
                (
                    source.as_str(),
                    Spec {
                        name: o.name.clone(),
                        kind: Kind::ZipMap { string_keys },
                    },
                    OutputMap::ZipMap(keys),
                )
            }
            None => {
                let (dtype, shape) =
                    tensor_type(o).ok_or_else(|| format!("output '{}' is not a tensor", o.name))?;
                (
                    o.name.as_str(),
                    Spec::tensor(&o.name, dtype, shape),
                    OutputMap::Plain,
                )
            }
        };
        let outlet = model
            .find_outlet_label(source)
            .ok_or_else(|| format!("tract: no tensor named '{source}' in the graph"))?;
        outlets.push(outlet);
        outputs.push(spec);
        maps.push(map);
    }
    model
        .select_output_outlets(&outlets)
        .map_err(|e| format!("tract: {e:#}"))?;
    let plan = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| format!("tract cannot run this model: {e:#}"))?;
    let runners = (0..workers)
        .map(|_| {
            Box::new(TractRunner {
                plan: plan.clone(),
                maps: maps.clone(),
            }) as Box<dyn Runner>
        })
        .collect();
    Ok(Engine {
        backend: BackendKind::Tract,
        columns: None,
        inputs,
        outputs,
        runners,
    })
}

struct TractRunner {
    plan: Arc<TypedRunnableModel>,
    maps: Vec<OutputMap>,
}

fn to_tract(t: Tensor) -> Result<TValue, String> {
    check_len(&t)?;
    let shape = t.shape;
    macro_rules! arr {
        ($v:expr) => {
            tract_ndarray::ArrayD::from_shape_vec(tract_ndarray::IxDyn(&shape), $v)
                .map(|a| a.into_tensor().into_tvalue())
                .map_err(|e| e.to_string())
        };
    }
    match t.data {
        Data::F32(v) => arr!(v),
        Data::F64(v) => arr!(v),
        Data::I8(v) => arr!(v),
        Data::I16(v) => arr!(v),
        Data::I32(v) => arr!(v),
        Data::I64(v) => arr!(v),
        Data::U8(v) => arr!(v),
        Data::U16(v) => arr!(v),
        Data::U32(v) => arr!(v),
        Data::U64(v) => arr!(v),
        Data::Bool(v) => arr!(v),
        Data::Str(v) => arr!(v),
    }
}

fn from_tract(v: &tract_onnx::prelude::Tensor) -> Result<Tensor, String> {
    let shape = v.shape().to_vec();
    macro_rules! prim {
        ($t:ty, $variant:ident) => {
            Data::$variant(
                v.try_as_plain_ram()
                    .and_then(|p| p.as_slice::<$t>().map(<[$t]>::to_vec))
                    .map_err(|e| e.to_string())?,
            )
        };
    }
    let data = match v.datum_type() {
        DatumType::F32 => prim!(f32, F32),
        DatumType::F64 => prim!(f64, F64),
        DatumType::I8 => prim!(i8, I8),
        DatumType::I16 => prim!(i16, I16),
        DatumType::I32 => prim!(i32, I32),
        DatumType::I64 => prim!(i64, I64),
        DatumType::U8 => prim!(u8, U8),
        DatumType::U16 => prim!(u16, U16),
        DatumType::U32 => prim!(u32, U32),
        DatumType::U64 => prim!(u64, U64),
        DatumType::Bool => prim!(bool, Bool),
        DatumType::String => prim!(String, Str),
        // tract computes integer index arithmetic as symbolic dimensions.
        DatumType::TDim => {
            let ints = v.cast_to::<i64>().map_err(|e| e.to_string())?;
            return from_tract(&ints);
        }
        other => return Err(format!("tract returned an output of type {other:?}")),
    };
    Ok(Tensor::new(shape, data))
}

impl Runner for TractRunner {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Value>, String> {
        let feeds = inputs
            .into_iter()
            .map(to_tract)
            .collect::<Result<TVec<_>, _>>()?;
        let results = self.plan.run(feeds).map_err(|e| format!("{e:#}"))?;
        results
            .iter()
            .zip(&self.maps)
            .map(|(r, map)| {
                let t = from_tract(r)?;
                match map {
                    OutputMap::Plain => Ok(Value::Tensor(t)),
                    OutputMap::ZipMap(keys) => match t.data {
                        Data::F32(values) if values.len() % keys.len().max(1) == 0 => {
                            Ok(Value::ZipMap(ZipMap {
                                keys: keys.clone(),
                                values,
                            }))
                        }
                        _ => Err("the ZipMap input is not a float matrix".to_owned()),
                    },
                }
            })
            .collect()
    }
}
