//! Outputs, one file per kind; every file is written atomically ([`atomic`]).

pub mod anomalies;
pub mod atomic;
pub mod csv;
pub mod parquet;
pub mod rates;
