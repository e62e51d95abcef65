//! `anomalies.parquet` and `anomalies.csv`: one row per incident, sorted by start, with the
//! columns of the output contract (README, "Anomalies").

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::analyze::incident::{contributors_text, Incident};
use crate::schema::TS_TZ;

pub fn anomalies_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some(TS_TZ.into()));
    let text = |n: &str| Field::new(n, DataType::Utf8, false);
    let num = |n: &str| Field::new(n, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        text("incident_id"),
        text("class"),
        text("severity"),
        text("detector"),
        text("dimension"),
        text("key"),
        Field::new("start_time", ts(), false),
        Field::new("end_time", ts(), false),
        Field::new("events", DataType::Int64, false),
        num("peak"),
        num("baseline"),
        num("threshold"),
        num("score"),
        text("explanation"),
        text("top_contributors"),
        text("sample_request_ids"),
        text("action"),
    ]))
}

pub fn anomalies_batch(incidents: &[Incident]) -> anyhow::Result<RecordBatch> {
    let s = |f: &dyn Fn(&Incident) -> String| -> ArrayRef {
        Arc::new(StringArray::from(
            incidents.iter().map(f).collect::<Vec<_>>(),
        ))
    };
    let n = |f: &dyn Fn(&Incident) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from(
            incidents.iter().map(f).collect::<Vec<_>>(),
        ))
    };
    let ts = |f: &dyn Fn(&Incident) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(incidents.iter().map(f).collect::<Vec<_>>())
                .with_timezone(TS_TZ),
        )
    };
    let cols: Vec<ArrayRef> = vec![
        s(&|i| i.incident_id.clone()),
        s(&|i| i.class.to_string()),
        s(&|i| i.severity.as_str().to_string()),
        s(&|i| i.detector.to_string()),
        s(&|i| i.dimension.to_string()),
        s(&|i| i.key.clone()),
        ts(&|i| i.start),
        ts(&|i| i.end),
        Arc::new(Int64Array::from(
            incidents
                .iter()
                .map(|i| i.events as i64)
                .collect::<Vec<_>>(),
        )),
        n(&|i| i.peak),
        n(&|i| i.baseline),
        n(&|i| i.threshold),
        n(&|i| (i.score * 100.0).round() / 100.0),
        s(&|i| i.explanation.clone()),
        s(&contributors_text),
        s(&|i| i.sample_request_ids.join(" ")),
        s(&|i| i.action.clone()),
    ];
    Ok(RecordBatch::try_new(anomalies_schema(), cols)?)
}
