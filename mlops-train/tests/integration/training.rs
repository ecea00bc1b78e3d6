//! Trainers on real data (winequality, iris, diabetes), determinism, features.

use mlops_train::{
    Algorithm, Feature, FeatureSpec, Impute, Model, Prediction, TargetSpec, TargetTask,
    TrainConfig, UnseenCategory, evaluate, train,
};
use polars::prelude::*;

use crate::common::{diabetes, iris, split, winequality};

fn cfg(df: &DataFrame, target: &str, task: TargetTask, algorithm: Algorithm) -> TrainConfig {
    let exclude = ["quality", "good", "species", "progression"];
    TrainConfig {
        features: FeatureSpec::all_numeric_standardized(df, &exclude),
        target: TargetSpec {
            column: target.to_string(),
            task,
        },
        algorithm,
        seed: 42,
    }
}

#[test]
fn binary_logistic_on_winequality() {
    let (tr, te) = split(&winequality(), 0.25, 1);
    let c = cfg(
        &tr,
        "good",
        TargetTask::Classification,
        Algorithm::logistic(),
    );
    let m = train(&tr, &c).unwrap();
    assert_eq!(m.classes(), ["bad", "good"]);
    let e = evaluate(&m, &te).unwrap();
    let acc = e.metric("accuracy_score").unwrap();
    let auc = e.metric("roc_auc_score").unwrap();
    eprintln!("winequality logistic: accuracy {acc:.4}, roc auc {auc:.4}");
    assert!(acc > 0.70, "{acc}");
    assert!(auc > 0.78, "{auc}");
    assert!(e.model.size_bytes.unwrap() > 0);
}

#[test]
fn binary_logistic_with_a_rare_positive_class() {
    // Class 1 ("yes", quality >= 7, about 14% of rows) is the minority: linfa's own
    // positive class is then class 0, and its probabilities must be turned around.
    let wine = winequality()
        .lazy()
        .with_column(
            when(col("quality").gt_eq(lit(7)))
                .then(lit("yes"))
                .otherwise(lit("no"))
                .alias("rare"),
        )
        .collect()
        .unwrap();
    let (tr, te) = split(&wine, 0.25, 1);
    let c = cfg(
        &tr,
        "rare",
        TargetTask::Classification,
        Algorithm::logistic(),
    );
    let m = train(&tr, &c).unwrap();
    assert_eq!(m.classes(), ["no", "yes"]);
    let e = evaluate(&m, &te).unwrap();
    let acc = e.metric("accuracy_score").unwrap();
    let auc = e.metric("roc_auc_score").unwrap();
    eprintln!("winequality rare-class logistic: accuracy {acc:.4}, roc auc {auc:.4}");
    assert!(auc > 0.75, "{auc}");
    assert!(acc > 0.80, "{acc}");
}

#[test]
fn every_classifier_learns_iris() {
    let (tr, te) = split(&iris(), 0.3, 2);
    for alg in [
        Algorithm::logistic(),
        Algorithm::tree(Some(4)),
        Algorithm::forest(25, Some(5)),
        Algorithm::GaussianNb {
            var_smoothing: 1e-9,
        },
    ] {
        let name = alg.name();
        let m = train(&tr, &cfg(&tr, "species", TargetTask::Classification, alg)).unwrap();
        let e = evaluate(&m, &te).unwrap();
        let acc = e.metric("accuracy_score").unwrap();
        eprintln!(
            "iris {name}: accuracy {acc:.4}, log loss {:?}",
            e.metric("log_loss")
        );
        assert!(acc > 0.85, "{name}: {acc}");
        match m.predict(&te).unwrap() {
            Prediction::Classes { proba: Some(p), .. } => {
                for r in p.rows() {
                    assert!(
                        (r.sum() - 1.0).abs() < 1e-9,
                        "{name}: probabilities sum to {}",
                        r.sum()
                    );
                }
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn forests_and_trees_on_winequality_multiclass() {
    let (tr, te) = split(&winequality(), 0.25, 3);
    let m = train(
        &tr,
        &cfg(
            &tr,
            "quality",
            TargetTask::Classification,
            Algorithm::forest(30, Some(8)),
        ),
    )
    .unwrap();
    assert_eq!(m.classes(), ["3", "4", "5", "6", "7", "8"]);
    let e = evaluate(&m, &te).unwrap();
    let acc = e.metric("accuracy_score").unwrap();
    eprintln!("winequality forest (6 classes): accuracy {acc:.4}");
    assert!(acc > 0.5, "{acc}");
}

#[test]
fn regressors_on_diabetes() {
    let (tr, te) = split(&diabetes(), 0.25, 4);
    for alg in [
        Algorithm::LinearRegression {
            fit_intercept: true,
        },
        Algorithm::ridge(0.1),
        Algorithm::ElasticNet {
            penalty: 0.1,
            l1_ratio: 0.5,
            max_iterations: 1000,
            tolerance: 1e-4,
        },
    ] {
        let name = alg.name();
        let m = train(&tr, &cfg(&tr, "progression", TargetTask::Regression, alg)).unwrap();
        let e = evaluate(&m, &te).unwrap();
        let r2 = e.metric("r2_score").unwrap();
        eprintln!(
            "diabetes {name}: r2 {r2:.4}, rmse {:.2}",
            e.metric("root_mean_squared_error").unwrap()
        );
        assert!(r2 > 0.3, "{name}: {r2}");
    }
}

#[test]
fn same_data_and_seed_give_the_same_bytes() {
    let wine = winequality();
    let ir = iris();
    let cases = [
        (&wine, "good", Algorithm::logistic()),
        (&ir, "species", Algorithm::logistic()),
        (&ir, "species", Algorithm::tree(None)),
        (&wine, "good", Algorithm::forest(10, Some(6))),
        (
            &ir,
            "species",
            Algorithm::GaussianNb {
                var_smoothing: 1e-9,
            },
        ),
    ];
    for (df, target, alg) in cases {
        let c = cfg(df, target, TargetTask::Classification, alg.clone());
        let a = train(df, &c).unwrap().to_payload().unwrap();
        let b = train(df, &c).unwrap().to_payload().unwrap();
        assert!(a == b, "{}: payloads differ", alg.name());
    }
    // A different seed changes a forest.
    let c1 = cfg(
        &wine,
        "good",
        TargetTask::Classification,
        Algorithm::forest(5, Some(4)),
    );
    let mut c2 = c1.clone();
    c2.seed = 43;
    assert_ne!(
        train(&wine, &c1).unwrap().to_payload().unwrap(),
        train(&wine, &c2).unwrap().to_payload().unwrap()
    );
}

#[test]
fn wrong_algorithm_for_target_is_an_error() {
    let df = diabetes();
    let c = cfg(
        &df,
        "progression",
        TargetTask::Regression,
        Algorithm::logistic(),
    );
    assert!(train(&df, &c).is_err());
}

fn toy() -> DataFrame {
    df!(
        "x" => [Some(1.0), Some(2.0), None, Some(4.0), Some(5.0), Some(6.0)],
        "colour" => [Some("red"), Some("blue"), Some("red"), None, Some("blue"), Some("red")],
        "y" => ["a", "b", "a", "b", "b", "a"],
    )
    .unwrap()
}

#[test]
fn features_standardise_one_hot_and_impute() {
    let df = toy();
    let spec = FeatureSpec::new(vec![
        Feature::standardized("x"),
        Feature::categorical("colour"),
    ]);
    let f = spec.fit(&df).unwrap();
    assert_eq!(
        f.output_names(),
        ["x", "colour=blue", "colour=missing", "colour=red"]
    );
    let x = f.transform(&df).unwrap();
    // Mean of present x = 3.6; the missing row is imputed with it, so it standardises to 0.
    assert!((x[[2, 0]]).abs() < 1e-12);
    assert_eq!(x.row(3).to_vec()[1..], [0.0, 1.0, 0.0]);
    // Unseen category: ignored -> all zeros.
    let new = df!("x" => [1.0], "colour" => ["green"]).unwrap();
    assert_eq!(
        f.transform(&new).unwrap().row(0).to_vec()[1..],
        [0.0, 0.0, 0.0]
    );
    // ... or refused, naming the column, row and value.
    let strict = FeatureSpec::new(vec![Feature {
        column: "colour".into(),
        kind: mlops_train::FeatureKind::Categorical {
            unseen: UnseenCategory::Refuse,
        },
        impute: Impute::MostFrequent,
    }]);
    let err = strict
        .fit(&df)
        .unwrap()
        .transform(&new)
        .unwrap_err()
        .to_string();
    assert!(err.contains("green") && err.contains("colour"), "{err}");
    // Refused missing values name the row.
    let refuse = FeatureSpec::new(vec![Feature::numeric("x")])
        .fit(&df)
        .unwrap();
    let err = refuse.transform(&df).unwrap_err().to_string();
    assert!(err.contains("row 2"), "{err}");
    // A text column as numeric input is refused at fit.
    assert!(
        FeatureSpec::new(vec![Feature::numeric("colour")])
            .fit(&df)
            .is_err()
    );
}

#[test]
fn categorical_features_train_end_to_end() {
    let df = toy();
    let c = TrainConfig {
        features: FeatureSpec::new(vec![
            Feature::standardized("x"),
            Feature::categorical("colour"),
        ]),
        target: TargetSpec {
            column: "y".into(),
            task: TargetTask::Classification,
        },
        algorithm: Algorithm::tree(Some(3)),
        seed: 0,
    };
    let m = train(&df, &c).unwrap();
    assert_eq!(m.predict(&df).unwrap().len(), 6);
    // Missing input column -> a typed error, not a panic.
    let bad = df!("colour" => ["red"]).unwrap();
    assert!(m.predict(&bad).is_err());
    assert!(!m.signature().check(&bad).is_empty());
}

#[test]
fn the_signature_is_a_data_contract() {
    let (tr, te) = split(&winequality(), 0.25, 8);
    let mut c = cfg(
        &tr,
        "good",
        TargetTask::Classification,
        Algorithm::logistic(),
    );
    c.features.features[0] = Feature::numeric("fixed acidity"); // refuses missing values
    let m = train(&tr, &c).unwrap();
    let contract = m.signature().contract.clone().unwrap();
    assert_eq!(contract.columns.len(), 11);
    assert!(
        m.signature().check(&te).is_empty(),
        "{:?}",
        m.signature().check(&te)
    );
    // A null where the model refuses them, a text column where it needs numbers.
    let bad = te
        .clone()
        .lazy()
        .with_columns([
            when(col("alcohol").gt(lit(12.0)))
                .then(lit(NULL).cast(DataType::Float64))
                .otherwise(col("fixed acidity"))
                .alias("fixed acidity"),
            col("pH").cast(DataType::String).alias("pH"),
        ])
        .collect()
        .unwrap();
    let problems = m.signature().check(&bad);
    assert!(
        problems.iter().any(|p| p.starts_with("fixed acidity")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.starts_with("pH")), "{problems:?}");
}
