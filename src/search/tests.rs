use super::*;

fn cmp(entity: Entity, key: &str, op: Op, value: Value) -> Expr {
    Expr::Cmp(Comparison {
        entity,
        key: key.into(),
        op,
        value,
    })
}

#[test]
fn parses_mlflow_filters() {
    let e = parse_filter("metrics.accuracy > 0.9 and params.max_depth = '10'").unwrap();
    assert_eq!(
        e,
        Expr::And(vec![
            cmp(Entity::Metric, "accuracy", Op::Gt, Value::Num(0.9)),
            cmp(Entity::Param, "max_depth", Op::Eq, Value::Str("10".into())),
        ])
    );
    let e = parse_filter("tags.`mlflow.prompt.is_prompt` != 'true'").unwrap();
    assert_eq!(
        e,
        cmp(
            Entity::Tag,
            "mlflow.prompt.is_prompt",
            Op::Ne,
            Value::Str("true".into())
        )
    );
    let e = parse_filter("tag.\"my key\" = \"v\"").unwrap();
    assert_eq!(
        e,
        cmp(Entity::Tag, "my key", Op::Eq, Value::Str("v".into()))
    );
    let e = parse_filter("name LIKE 'wf-%'").unwrap();
    assert_eq!(
        e,
        cmp(
            Entity::Attribute,
            "name",
            Op::Like,
            Value::Str("wf-%".into())
        )
    );
    let e = parse_filter("metrics.loss<=-1.5e-3").unwrap();
    assert_eq!(e, cmp(Entity::Metric, "loss", Op::Le, Value::Num(-1.5e-3)));
    let e = parse_filter("tags.mlflow.runName = 'a'").unwrap();
    assert_eq!(
        e,
        cmp(
            Entity::Tag,
            "mlflow.runName",
            Op::Eq,
            Value::Str("a".into())
        )
    );
}

#[test]
fn parses_in_null_and_or() {
    let e = parse_filter("attributes.run_id IN ('a', 'b') AND tags.x IS NOT NULL").unwrap();
    assert_eq!(
        e,
        Expr::And(vec![
            cmp(
                Entity::Attribute,
                "run_id",
                Op::In,
                Value::List(vec!["a".into(), "b".into()])
            ),
            cmp(Entity::Tag, "x", Op::IsNotNull, Value::Null),
        ])
    );
    let e = parse_filter("(metrics.a > 1 OR metrics.b < 2) and params.p NOT IN ('x')").unwrap();
    assert_eq!(
        e,
        Expr::And(vec![
            Expr::Or(vec![
                cmp(Entity::Metric, "a", Op::Gt, Value::Num(1.0)),
                cmp(Entity::Metric, "b", Op::Lt, Value::Num(2.0)),
            ]),
            cmp(Entity::Param, "p", Op::NotIn, Value::List(vec!["x".into()])),
        ])
    );
    // AND binds tighter than OR.
    let e = parse_filter("metrics.a = 1 or metrics.b = 2 and metrics.c = 3").unwrap();
    assert!(matches!(e, Expr::Or(ref v) if v.len() == 2 && matches!(v[1], Expr::And(_))));
}

#[test]
fn rejects_bad_filters() {
    let e = parse_filter("metrics.accuracy >>> 1").unwrap_err();
    assert_eq!(
        e.message,
        "Invalid comparator '>>>' not one of '{'=', '>', '<=', '!=', '<', '>='}'"
    );
    for bad in [
        "metrics.a >",
        "metrics.a > 1 and",
        "(metrics.a > 1",
        "metrics.a > 1)",
        "params.p = 'unterminated",
        "foo.bar = 1",
        "params.p IN ()",
        "params.p IN 'a'",
        "metrics.a ~ 1",
        "; DROP TABLE runs; --",
        "metrics.a > 1; DELETE FROM runs",
    ] {
        assert!(parse_filter(bad).is_err(), "{bad} should fail");
    }
    let deep = format!("{}metrics.a > 1{}", "(".repeat(200), ")".repeat(200));
    assert!(parse_filter(&deep).is_err());
}

#[test]
fn injection_stays_a_value() {
    let e = parse_filter("params.p = 'x'' OR 1=1 --'").unwrap();
    assert_eq!(
        e,
        cmp(
            Entity::Param,
            "p",
            Op::Eq,
            Value::Str("x' OR 1=1 --".into())
        )
    );
}

#[test]
fn order_by_terms() {
    assert_eq!(
        parse_order_by("metrics.accuracy DESC").unwrap(),
        OrderBy {
            entity: Entity::Metric,
            key: "accuracy".into(),
            ascending: false
        }
    );
    assert_eq!(
        parse_order_by("attributes.start_time").unwrap(),
        OrderBy {
            entity: Entity::Attribute,
            key: "start_time".into(),
            ascending: true
        }
    );
    assert_eq!(
        parse_order_by("name ASC").unwrap(),
        OrderBy {
            entity: Entity::Attribute,
            key: "name".into(),
            ascending: true
        }
    );
    assert!(parse_order_by("metrics.a sideways").is_err());
    assert!(parse_order_by("").is_err());
}

#[test]
fn page_tokens_round_trip() {
    assert_eq!(encode_page_token(2), "eyJvZmZzZXQiOiAyfQ==");
    assert_eq!(decode_page_token(Some("eyJvZmZzZXQiOiAyfQ==")).unwrap(), 2);
    assert_eq!(decode_page_token(None).unwrap(), 0);
    assert!(decode_page_token(Some("!!!")).is_err());
    assert!(decode_page_token(Some("e30=")).is_err()); // {}
}

#[test]
fn fuzz_like_inputs_never_panic() {
    // A tiny deterministic fuzz: every prefix and every single-byte mutation of real filters.
    let seeds = [
        "metrics.accuracy > 0.9 and params.max_depth = '10'",
        "tags.`a.b` IN ('x', \"y\") OR (attributes.status != 'FAILED')",
        "name ILIKE '%foo%' AND tags.x IS NOT NULL",
    ];
    let alphabet = [
        '\'', '"', '`', '(', ')', '.', '=', '<', '>', '!', ',', ' ', '-', 'e', '1', '\\',
    ];
    for s in seeds {
        let chars: Vec<char> = s.chars().collect();
        for n in 0..=chars.len() {
            let prefix: String = chars[..n].iter().collect();
            let _ = parse_filter(&prefix);
            for &a in &alphabet {
                let mut m = chars.clone();
                if n < m.len() {
                    m[n] = a;
                }
                let _ = parse_filter(&m.iter().collect::<String>());
            }
        }
    }
}
