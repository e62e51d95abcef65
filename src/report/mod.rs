//! Outputs, one file per kind; every file is written atomically ([`atomic`]).

pub mod atomic;
pub mod parquet;
