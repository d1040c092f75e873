"""Train small models, save them with the real MLflow flavors, and record expected outputs.

Usage:  python make_fixtures.py OUT_DIR

Run by scripts/flavor-fixtures.sh with both e2e venvs: the MLflow 3.x venv writes OUT_DIR/v3, the 2.x venv
writes OUT_DIR/v2. Each model directory gets an `expected.json` beside `MLmodel`:

    {"flavor": "sklearn", "flavor_conf": {...MLmodel flavor block...},
     "input": [{"name": "a", "type": "f64", "values": [...]}, ...],     # null = missing
     "predict": {"kind": "labels"|"values"|"matrix", "type": ..., "data": [...], "shape": [...]},
     "predict_proba": {...} (classifiers), "n_features_in": n}
"""
import json
import os
import pickle
import shutil
import sys
import warnings

import numpy as np
import pandas as pd
import mlflow
import sklearn
from mlflow.models import Model, infer_signature
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
    GradientBoostingRegressor, HistGradientBoostingClassifier, HistGradientBoostingRegressor,
    RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression,
                                  Ridge, SGDClassifier, SGDRegressor)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC, LinearSVR, SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

warnings.filterwarnings("ignore")
MLFLOW3 = int(mlflow.__version__.split(".")[0]) >= 3
OUT = os.path.join(sys.argv[1], "v3" if MLFLOW3 else "v2")


# ---------------------------------------------------------------- data
def iris():
    d = datasets.load_iris()
    X = pd.DataFrame(d.data, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    return X, d.target


def iris_names():
    X, y = iris()
    return X, np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]


def binary():
    X, y = datasets.make_classification(n_samples=200, n_features=6, n_informative=4,
                                        random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]), y


def regression():
    d = datasets.load_diabetes()
    return pd.DataFrame(d.data, columns=d.feature_names), d.target


def mixed():
    rng = np.random.RandomState(1)
    n = 160
    color = rng.choice(["red", "green", "blue"], n).astype(object)
    size = rng.choice(["S", "M", "L", "XL"], n).astype(object)
    x1 = rng.normal(size=n)
    x2 = rng.randint(0, 10, n).astype(np.int64)
    y = ((color == "red") ^ (x1 > 0.3) | (size == "XL")).astype(int)
    x1[rng.rand(n) < 0.1] = np.nan
    color[rng.rand(n) < 0.05] = None
    X = pd.DataFrame({"color": color, "size": size, "x1": x1, "x2": x2})
    return X, y


def test_rows(X, extra=None):
    """A fixed input set: 12 spread training rows plus perturbed copies."""
    idx = np.linspace(0, len(X) - 1, 12).astype(int)
    base = X.iloc[idx].reset_index(drop=True)
    pert = base.copy()
    for c in pert.columns:
        if pd.api.types.is_float_dtype(pert[c]):
            pert[c] = pert[c] * 1.03 + 0.01
    out = pd.concat([base, pert], ignore_index=True)
    if extra is not None:
        out = pd.concat([out, extra], ignore_index=True)
    return out


# ---------------------------------------------------------------- output encoding
def enc_input(df):
    cols = []
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s):
            t, vals = "bool", [bool(v) for v in s]
        elif pd.api.types.is_integer_dtype(s):
            t, vals = "i64", [int(v) for v in s]
        elif pd.api.types.is_float_dtype(s):
            t, vals = "f64", [None if np.isnan(v) else float(v) for v in s]
        else:
            t, vals = "str", [None if (v is None or (isinstance(v, float) and np.isnan(v)))
                              else str(v) for v in s]
        cols.append({"name": str(c), "type": t, "values": vals})
    return cols


def label_type(a):
    a = np.asarray(a)
    if a.dtype.kind == "b":
        return "bool"
    if a.dtype.kind in "iu":
        return "i64"
    if a.dtype.kind == "f":
        return "f64"
    first = a.flat[0] if a.size else ""
    if isinstance(first, (bool, np.bool_)):
        return "bool"
    if isinstance(first, (int, np.integer)):
        return "i64"
    if isinstance(first, (float, np.floating)):
        return "f64"
    return "str"


def conv(v, t):
    if t == "bool":
        return bool(v)
    if t == "i64":
        return int(v)
    if t == "f64":
        return float(v)
    return str(v)


def enc_labels(a):
    t = label_type(a)
    return {"kind": "labels", "type": t, "data": [conv(v, t) for v in np.asarray(a).ravel()]}


def enc_values(a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] > 1:
        return {"kind": "matrix", "shape": list(a.shape), "data": [float(v) for v in a.ravel()]}
    return {"kind": "values", "data": [float(v) for v in a.ravel()]}


# ---------------------------------------------------------------- saving
def flavor_conf(path, flavor):
    return Model.load(os.path.join(path, "MLmodel")).flavors[flavor]


def write_expected(path, flavor, X_test, predict, proba=None, n_features=None, extra=None):
    exp = {
        "flavor": flavor,
        "flavor_conf": flavor_conf(path, flavor),
        "input": enc_input(X_test),
        "predict": predict,
        "versions": {"mlflow": mlflow.__version__, "sklearn": sklearn.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__},
    }
    if proba is not None:
        exp["predict_proba"] = proba
    if n_features is not None:
        exp["n_features_in"] = int(n_features)
    if extra:
        exp.update(extra)
    with open(os.path.join(path, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)


def fresh(name):
    path = os.path.join(OUT, name)
    if os.path.exists(path):
        shutil.rmtree(path)
    return path


def sk_formats():
    return ["skops", "cloudpickle", "pickle"] if MLFLOW3 else ["cloudpickle", "pickle"]


def trusted_types(model):
    import skops.io
    p = "/tmp/_weir_probe.skops"
    skops.io.dump(model, p)
    return skops.io.get_untrusted_types(file=p)


def save_sklearn(name, model, X, y, X_test, formats=None):
    model.fit(X, y)
    sig = infer_signature(X, model.predict(X))
    for fmt in formats or sk_formats():
        path = fresh(f"sklearn_{name}_{fmt}")
        kw = {}
        if fmt == "skops":
            kw["skops_trusted_types"] = trusted_types(model)
        mlflow.sklearn.save_model(model, path, serialization_format=fmt, signature=sig,
                                 pip_requirements=["scikit-learn"], **kw)
        loaded = mlflow.sklearn.load_model(path) if fmt != "skops" else model
        pred = enc_labels(loaded.predict(X_test)) if hasattr(model, "classes_") \
            else enc_values(loaded.predict(X_test))
        proba = enc_values(loaded.predict_proba(X_test)) \
            if hasattr(model, "classes_") and hasattr(model, "predict_proba") else None
        if proba is not None and proba["kind"] == "values":
            proba = {"kind": "matrix", "shape": [len(X_test), 1], "data": proba["data"]}
        write_expected(path, "sklearn", X_test, pred, proba, getattr(model, "n_features_in_", None))
    print("sklearn", name)


def sklearn_models():
    Xi, yi = iris()
    Xin, yin = iris_names()
    Xb, yb = binary()
    Xr, yr = regression()
    Xm, ym = mixed()
    ti, tb, tr = test_rows(Xi), test_rows(Xb), test_rows(Xr)
    tm = test_rows(Xm, pd.DataFrame({"color": ["purple", None], "size": ["M", "XXL"],
                                     "x1": [np.nan, 0.5], "x2": [3, 11]}))
    ybs = np.where(yb == 1, "yes", "no").astype(object)
    ybb = yb == 1
    ybf = np.where(yb == 1, 3.0, -1.0)

    save_sklearn("dt_iris", DecisionTreeClassifier(max_depth=4, random_state=0), Xi, yi, ti)
    save_sklearn("dt_binary_str", DecisionTreeClassifier(max_depth=5, random_state=0), Xb, ybs, tb)
    save_sklearn("dt_reg", DecisionTreeRegressor(max_depth=5, random_state=0), Xr, yr, tr)
    save_sklearn("rf_iris_names", RandomForestClassifier(n_estimators=10, max_depth=4,
                                                         random_state=0), Xin, yin, ti)
    save_sklearn("rf100_iris", RandomForestClassifier(n_estimators=100, random_state=0),
                 Xi, yi, ti, formats=["skops", "pickle"] if MLFLOW3 else ["pickle"])
    save_sklearn("rf_reg", RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0),
                 Xr, yr, tr)
    save_sklearn("et_binary_bool", ExtraTreesClassifier(n_estimators=10, max_depth=5,
                                                        random_state=0), Xb, ybb, tb)
    save_sklearn("et_reg", ExtraTreesRegressor(n_estimators=10, max_depth=5, random_state=0),
                 Xr, yr, tr)
    save_sklearn("gb_iris", GradientBoostingClassifier(n_estimators=10, max_depth=2,
                                                       random_state=0), Xi, yi, ti)
    save_sklearn("gb_binary", GradientBoostingClassifier(n_estimators=15, max_depth=3,
                                                         random_state=0), Xb, ybs, tb)
    save_sklearn("gb_reg", GradientBoostingRegressor(n_estimators=15, max_depth=3,
                                                     random_state=0), Xr, yr, tr)
    save_sklearn("hgb_iris", HistGradientBoostingClassifier(max_iter=10, random_state=0),
                 Xi, yi, ti)
    Xbn = Xb.copy()
    Xbn.loc[::7, "f1"] = np.nan
    tbn = test_rows(Xbn, pd.DataFrame({f"f{i}": [np.nan] for i in range(6)}))
    save_sklearn("hgb_binary_nan", HistGradientBoostingClassifier(max_iter=15, random_state=0),
                 Xbn, yb, tbn)
    save_sklearn("hgb_reg", HistGradientBoostingRegressor(max_iter=15, random_state=0),
                 Xr, yr, tr)
    save_sklearn("logreg_iris", LogisticRegression(max_iter=1000), Xi, yi, ti)
    save_sklearn("logreg_binary_bool", LogisticRegression(max_iter=1000), Xb, ybb, tb)
    if not MLFLOW3:
        save_sklearn("logreg_iris_ovr", LogisticRegression(max_iter=1000, multi_class="ovr"),
                     Xi, yi, ti)
    save_sklearn("linreg", LinearRegression(), Xr, yr, tr)
    save_sklearn("ridge", Ridge(alpha=0.5), Xr, yr, tr)
    save_sklearn("lasso", Lasso(alpha=0.1), Xr, yr, tr)
    save_sklearn("enet", ElasticNet(alpha=0.01, l1_ratio=0.3), Xr, yr, tr)
    save_sklearn("sgd_clf_iris", SGDClassifier(random_state=0), Xi, yi, ti)
    save_sklearn("sgd_clf_binary_float", SGDClassifier(loss="log_loss", random_state=0),
                 Xb, ybf, tb)
    save_sklearn("sgd_reg", Pipeline([("scale", StandardScaler()),
                                      ("sgd", SGDRegressor(random_state=0))]), Xr, yr, tr)
    save_sklearn("linsvc_iris", LinearSVC(random_state=0), Xi, yi, ti)
    save_sklearn("linsvc_binary", LinearSVC(random_state=0), Xb, yb, tb)
    save_sklearn("linsvr", LinearSVR(random_state=0, max_iter=5000), Xr, yr, tr)
    save_sklearn("svr_rbf", SVR(C=50.0), Xr, yr, tr)
    save_sklearn("pipe_scaler_logreg", Pipeline([("scale", StandardScaler()),
                                                 ("clf", LogisticRegression(max_iter=1000))]),
                 Xi, yi, ti)
    save_sklearn("pipe_minmax_dt", Pipeline([("mm", MinMaxScaler()),
                                             ("dt", DecisionTreeRegressor(max_depth=4))]),
                 Xr, yr, tr)
    pre = ColumnTransformer([
        ("num", Pipeline([("imp", SimpleImputer(strategy="median")),
                          ("sc", StandardScaler())]), ["x1", "x2"]),
        ("cat", Pipeline([("imp", SimpleImputer(strategy="constant", fill_value="missing")),
                          ("ohe", OneHotEncoder(handle_unknown="ignore"))]), ["color", "size"]),
    ])
    save_sklearn("pipe_coltrans_logreg", Pipeline([("pre", pre),
                                                   ("clf", LogisticRegression(max_iter=1000))]),
                 Xm, ym, tm)
    pre2 = ColumnTransformer([
        ("cat", OneHotEncoder(drop="first", handle_unknown="error",
                              sparse_output=False), [1]),
        ("num", MinMaxScaler(), [3]),
    ], remainder="drop")
    tm2 = test_rows(Xm)
    tm2["color"] = tm2["color"].fillna("red")
    Xm2 = Xm.copy()
    Xm2["color"] = Xm2["color"].fillna("red")
    save_sklearn("pipe_coltrans_idx_rf", Pipeline([("pre", pre2), ("rf", RandomForestClassifier(
        n_estimators=5, max_depth=4, random_state=0))]), Xm2, ym, tm2)
    pre3 = ColumnTransformer([
        ("cat", OneHotEncoder(drop="if_binary", handle_unknown="ignore"), ["color"]),
    ], remainder="passthrough")
    Xm3 = Xm2[["color", "x1", "x2"]].copy()
    Xm3["x1"] = Xm3["x1"].fillna(0.0)
    tm3 = tm2[["color", "x1", "x2"]].copy()
    tm3["x1"] = tm3["x1"].fillna(0.0)
    save_sklearn("pipe_coltrans_passthrough_gb", Pipeline([("pre", pre3), (
        "gb", GradientBoostingRegressor(n_estimators=10, max_depth=2, random_state=0))]),
                 Xm3, ym.astype(float), tm3)


# ---------------------------------------------------------------- xgboost
def xgboost_models():
    import xgboost as xgb
    Xi, yi = iris()
    Xb, yb = binary()
    Xr, yr = regression()
    Xbn = Xb.copy()
    Xbn.loc[::5, "f2"] = np.nan
    tbn = test_rows(Xbn, pd.DataFrame({f"f{i}": [np.nan] for i in range(6)}))
    ti, tr = test_rows(Xi), test_rows(Xr)
    formats = ["ubj", "json", "xgb"] if MLFLOW3 else ["xgb", "json"]

    def booster(name, params, X, y, Xt, rounds=8):
        bst = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=rounds)
        sig = infer_signature(X, bst.predict(xgb.DMatrix(X)))
        for fmt in formats:
            path = fresh(f"xgboost_{name}_{fmt}")
            mlflow.xgboost.save_model(bst, path, model_format=fmt, signature=sig,
                                      pip_requirements=["xgboost"])
            loaded = mlflow.xgboost.load_model(path)
            out = loaded.predict(xgb.DMatrix(Xt))
            write_expected(path, "xgboost", Xt, enc_values(out), n_features=X.shape[1])
        print("xgboost", name)

    booster("binary_logistic", {"objective": "binary:logistic", "max_depth": 3}, Xbn, yb, tbn)
    Xu, yu = datasets.make_classification(n_samples=200, n_features=5, weights=[0.8],
                                          random_state=3)
    Xu = pd.DataFrame(Xu, columns=[f"u{i}" for i in range(5)])
    booster("binary_unbalanced", {"objective": "binary:logistic", "max_depth": 2}, Xu, yu,
            test_rows(Xu))
    booster("binary_logitraw", {"objective": "binary:logitraw", "max_depth": 3}, Xb, yb,
            test_rows(Xb))
    booster("reg_logistic", {"objective": "reg:logistic", "max_depth": 2}, Xb, yb,
            test_rows(Xb))
    booster("softprob", {"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
            Xi, yi, ti)
    booster("softmax", {"objective": "multi:softmax", "num_class": 3, "max_depth": 2},
            Xi, yi, ti)
    booster("squarederror", {"objective": "reg:squarederror", "max_depth": 3}, Xr, yr, tr)

    def sk(name, model, X, y, Xt):
        model.fit(X, y)
        sig = infer_signature(X, model.predict(X))
        for fmt in formats:
            path = fresh(f"xgboost_{name}_{fmt}")
            mlflow.xgboost.save_model(model, path, model_format=fmt, signature=sig,
                                      pip_requirements=["xgboost"])
            loaded = mlflow.xgboost.load_model(path)
            is_clf = hasattr(loaded, "predict_proba")
            pred = enc_labels(loaded.predict(Xt)) if is_clf else enc_values(loaded.predict(Xt))
            proba = enc_values(loaded.predict_proba(Xt)) if is_clf else None
            write_expected(path, "xgboost", Xt, pred, proba, n_features=X.shape[1])
        print("xgboost", name)

    sk("sk_clf_iris", xgb.XGBClassifier(n_estimators=6, max_depth=2), Xi, yi, ti)
    sk("sk_clf_binary", xgb.XGBClassifier(n_estimators=6, max_depth=3), Xbn, yb, tbn)
    sk("sk_reg", xgb.XGBRegressor(n_estimators=8, max_depth=3), Xr, yr, tr)


# ---------------------------------------------------------------- lightgbm
def lightgbm_models():
    import lightgbm as lgb
    Xi, yi = iris()
    Xin, yin = iris_names()
    Xb, yb = binary()
    Xr, yr = regression()
    Xbn = Xb.copy()
    Xbn.loc[::5, "f2"] = np.nan
    Xbn.loc[1::9, "f3"] = 0.0
    tbn = test_rows(Xbn, pd.DataFrame({f"f{i}": [np.nan] for i in range(6)}))
    ti, tr = test_rows(Xi), test_rows(Xr)
    common = {"verbose": -1, "num_leaves": 7, "min_data_in_leaf": 5, "seed": 0}

    def booster(name, params, X, y, Xt, rounds=8):
        bst = lgb.train({**common, **params}, lgb.Dataset(X, label=y), num_boost_round=rounds)
        sig = infer_signature(X, bst.predict(X))
        path = fresh(f"lightgbm_{name}")
        mlflow.lightgbm.save_model(bst, path, signature=sig, pip_requirements=["lightgbm"])
        loaded = mlflow.lightgbm.load_model(path)
        write_expected(path, "lightgbm", Xt, enc_values(loaded.predict(Xt)),
                       n_features=X.shape[1])
        print("lightgbm", name)

    booster("binary", {"objective": "binary"}, Xbn, yb, tbn)
    booster("multiclass", {"objective": "multiclass", "num_class": 3}, Xi, yi, ti)
    booster("regression", {"objective": "regression"}, Xr, yr, tr)
    booster("rf", {"objective": "regression", "boosting": "rf", "bagging_freq": 1,
                   "bagging_fraction": 0.7, "feature_fraction": 0.8}, Xr, yr, tr)
    booster("zero_as_missing", {"objective": "binary", "zero_as_missing": True},
            Xbn, yb, tbn)

    def sk(name, model, X, y, Xt):
        model.fit(X, y)
        sig = infer_signature(X, model.predict(X))
        fmts = sk_formats()
        for fmt in fmts:
            path = fresh(f"lightgbm_{name}_{fmt}")
            kw = {"serialization_format": fmt} if MLFLOW3 else {}
            if fmt == "skops":
                kw["skops_trusted_types"] = trusted_types(model)
            mlflow.lightgbm.save_model(model, path, signature=sig, pip_requirements=["lightgbm"], **kw)
            loaded = mlflow.lightgbm.load_model(path)
            is_clf = hasattr(loaded, "predict_proba")
            pred = enc_labels(loaded.predict(Xt)) if is_clf else enc_values(loaded.predict(Xt))
            proba = enc_values(loaded.predict_proba(Xt)) if is_clf else None
            write_expected(path, "lightgbm", Xt, pred, proba, n_features=X.shape[1])
            if not MLFLOW3:
                break
        print("lightgbm", name)

    sk("sk_clf_iris_names", lgb.LGBMClassifier(n_estimators=6, verbose=-1, num_leaves=7),
       Xin, yin, ti)
    sk("sk_clf_binary", lgb.LGBMClassifier(n_estimators=6, verbose=-1, num_leaves=7),
       Xbn, yb, tbn)
    sk("sk_reg", lgb.LGBMRegressor(n_estimators=8, verbose=-1, num_leaves=7), Xr, yr, tr)


# ---------------------------------------------------------------- hostile pickles
class Evil:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def hostile():
    import os as _os
    import subprocess
    cases = {
        "posix_system": Evil(_os.system, ("echo pwned",)),
        "builtins_eval": Evil(eval, ("1+1",)),
        "subprocess_popen": Evil(subprocess.Popen, (["true"],)),
    }
    Xi, yi = iris()
    dt = DecisionTreeClassifier(max_depth=2).fit(Xi, yi)
    for name, obj in cases.items():
        for proto in (2, 4, 5):
            path = fresh(f"hostile_{name}_p{proto}")
            mlflow.sklearn.save_model(dt, path, serialization_format="pickle",
                                      pip_requirements=["scikit-learn"])
            # Replace the model file with the hostile pickle (nested in a dict, as an attack
            # would hide it inside a real estimator's state).
            with open(os.path.join(path, "model.pkl"), "wb") as f:
                pickle.dump({"model": dt, "payload": obj}, f, protocol=proto)
            with open(os.path.join(path, "expected.json"), "w") as f:
                json.dump({"flavor": "sklearn", "flavor_conf": flavor_conf(path, "sklearn"),
                           "refused": {"posix_system": "posix.system",
                                       "builtins_eval": "builtins.eval",
                                       "subprocess_popen": "subprocess.Popen"}[name]}, f)
    print("hostile pickles")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    which = sys.argv[2:] or ["sklearn", "xgboost", "lightgbm", "hostile"]
    if "sklearn" in which:
        sklearn_models()
    if "xgboost" in which:
        xgboost_models()
    if "lightgbm" in which:
        lightgbm_models()
    if "hostile" in which:
        hostile()
