//! Unit tests of the fold and the key summariser.

use super::*;
use crate::analyze::grid::MINUTE_US;
use crate::ingest::builder::EventBatchBuilder;
use crate::ingest::mapping::Event;
use std::borrow::Cow;

fn event(min: i64, status: i16, conn: &str, ip: &str) -> Event<'static> {
    let ok = status < 400;
    Event {
        ts: 1_709_251_200_000_000 + min * MINUTE_US,
        status: Some(status),
        error_code: (!ok).then(|| Cow::Owned(format!("HTTP_{status}"))),
        category: if ok { "success" } else { "authentication" },
        class: (!ok).then_some("security"),
        connection_id: Some(Cow::Owned(conn.to_string())),
        ip_address: Some(Cow::Owned(ip.to_string())),
        ..Default::default()
    }
}

fn batch(events: &[Event<'static>]) -> RecordBatch {
    let mut b = EventBatchBuilder::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        b.append(e, "t.ndjson", i as u64 + 1);
    }
    b.finish()
}

#[test]
fn counts_per_window_and_key_whatever_the_batches_and_order() {
    let long_conn = "conn_with_a_name_longer_than_twelve";
    let events = vec![
        event(0, 200, "c1", "10.0.0.1"),
        event(1, 401, "c1", "10.0.0.1"),
        event(7, 401, long_conn, "10.0.0.2"),
        event(12, 200, long_conn, "10.0.0.1"),
        event(13, 429, "c1", "10.0.0.2"),
        event(3, 500, "c1", "10.0.0.1"),
    ];
    let dir = crate::testutil::tempdir().unwrap();
    let step = 5 * MINUTE_US;
    let mut one = Collector::new(step, TimeBounds::default()).unwrap();
    one.observe(&batch(&events), 0);
    let one = one.finish(dir.path(), 3).unwrap().unwrap();

    // Two batches, the later part of the input (later windows) seen first: the
    // tables grow at the front, the rows still come out in time then input order.
    let mut two = Collector::new(step, TimeBounds::default()).unwrap();
    two.observe(&batch(&events[3..]), 1);
    two.observe(&batch(&events[..3]), 0);
    let two = two.finish(dir.path(), 3).unwrap().unwrap();
    assert_eq!(one, two);

    assert_eq!(one.grid.n, 3);
    let conn = one.dim(Dimension::ConnectionId).unwrap();
    let keys: Vec<&str> = conn.series.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["c1", long_conn]);
    let c1 = conn.series[0].counts.iter().collect::<Vec<_>>();
    assert_eq!((c1[0].requests, c1[0].errors, c1[0].s401), (3, 2, 1));
    assert_eq!(c1[0].s5xx, 1);
    assert_eq!(c1[1], Counts::default());
    assert_eq!((c1[2].requests, c1[2].s429), (1, 1));
    let status = one.dim(Dimension::StatusClass).unwrap();
    let keys: Vec<&str> = status.series.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["2xx", "4xx", "5xx"]);
    // Every error row in the log; the 401s also in memory, in time order.
    let errors = one.error_log.sorted_rows().unwrap();
    let statuses: Vec<Option<i16>> = errors.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [Some(401), Some(500), Some(401), Some(429)]);
    let auth: Vec<i64> = one.auth_failures.iter().map(|e| e.ts()).collect();
    assert_eq!(auth, [events[1].ts, events[2].ts]);
    let codes: Vec<(&str, u64)> = one
        .codes
        .iter()
        .map(|c| (c.code.as_str(), c.events))
        .collect();
    assert_eq!(codes, [("HTTP_401", 2), ("HTTP_429", 1), ("HTTP_500", 1)]);
    assert!(one.has_successes);
}

/// Reauthorization outcomes folded as the events come equal those read back from the
/// written events, for input in time order (with ties) and out of it.
#[test]
fn reauthorization_folded_in_order_equals_the_second_read() {
    let conns = ["c0", "c1", "conn_with_a_name_longer_than_twelve"];
    let statuses = [200, 401, 401, 200, 500, 403, 401];
    let mut x = 7u64;
    let mut events = Vec::new();
    for i in 0..3000i64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let conn = conns[(x >> 40) as usize % conns.len()];
        let status = statuses[(x >> 50) as usize % statuses.len()];
        // Three events a minute: ties in time between 401s and successes.
        events.push(event(i / 3, status, conn, "10.0.0.1"));
    }
    let dir = crate::testutil::tempdir().unwrap();
    let events_dir = dir.path().join("events");
    let mut w = crate::report::parquet::EventsWriter::create(&events_dir).unwrap();
    w.write(&batch(&events)).unwrap();
    w.finish().unwrap();
    let step = 5 * MINUTE_US;
    let tables = |batches: &[&[Event<'static>]], reread: bool| {
        let mut c = Collector::new(step, TimeBounds::default()).unwrap();
        for (seq, b) in batches.iter().enumerate() {
            c.observe(&batch(b), seq as u64);
        }
        assert!(c.reauth.outcomes(&[]).is_some(), "in time order");
        if reread {
            c.reauth.give_up();
        }
        c.finish(&events_dir, 2).unwrap().unwrap()
    };
    let folded = tables(&[&events[..1000], &events[1000..]], false);
    let reread = tables(&[&events], true);
    let outcomes = &folded.connection_outcomes;
    assert_eq!(outcomes, &reread.connection_outcomes);
    assert!(outcomes.iter().filter(|o| o.success).count() > 100);
    assert!(outcomes.iter().filter(|o| !o.success).count() > 500);
    // The later half first: not in time order, so the events are read again.
    let swapped = {
        let mut c = Collector::new(step, TimeBounds::default()).unwrap();
        c.observe(&batch(&events[1500..]), 1);
        c.observe(&batch(&events[..1500]), 0);
        assert!(c.reauth.outcomes(&[]).is_none());
        c.finish(&events_dir, 2).unwrap().unwrap()
    };
    assert_eq!(&swapped.connection_outcomes, outcomes);
}

/// A cell past 16 bits goes on in the overflow map, exact, also when the tables grow
/// at the front afterwards (out-of-order input).
#[test]
fn counts_past_sixteen_bits_stay_exact() {
    let unauthorized = Counts {
        requests: 1,
        errors: 1,
        s4xx: 1,
        s401: 1,
        ..Default::default()
    };
    let ok = Counts {
        requests: 1,
        ..Default::default()
    };
    let mut d = Dim::default();
    for i in 0..70_000u32 {
        d.add("k", 5, if i % 3 == 0 { &unauthorized } else { &ok });
    }
    d.add("k", 2, &ok);
    d.add("other", 5, &unauthorized);
    for _ in 0..10 {
        d.add("k", 5, &unauthorized);
    }
    // 65,534 is the most a cell holds; this one stays in its slab.
    for _ in 0..65_534 {
        d.add("other", 4, &ok);
    }
    let (series, _) = d.into_series(&Grid::spanning(2, 5, 1));
    let by_key = |k: &str| {
        let s = series.iter().find(|s| s.key == k).unwrap();
        s.counts.iter().collect::<Vec<_>>()
    };
    let k = by_key("k");
    assert_eq!((k[0].requests, k[0].errors), (1, 0));
    assert_eq!(k[1], Counts::default());
    let big = k[3];
    assert_eq!(
        (big.requests, big.errors, big.s401),
        (70_010, 23_344, 23_344)
    );
    assert_eq!(big.s4xx, 23_344);
    let other = by_key("other");
    assert_eq!(other[2].requests, 65_534);
    assert_eq!((other[3].requests, other[3].s401), (1, 1));
}

/// Past `max_keys` keys a dimension is summarised: its memory stays at 1.25
/// `max_keys` slots however many keys come, every count lands in a kept key or
/// `(other)` (nothing lost, nothing counted twice), and a heavy key that stands out
/// from the start keeps its exact series among a flood of one-off keys.
#[test]
fn many_keys_are_summarised_into_the_heaviest_and_other() {
    let err = Counts {
        requests: 1,
        errors: 1,
        s4xx: 1,
        s401: 1,
        ..Default::default()
    };
    let ok = Counts {
        requests: 1,
        ..Default::default()
    };
    let mut d = Dim::with_max_keys(40);
    let (mut total, mut heavy) = (Counts::default(), Counts::default());
    let mut per_window = [0u32; 50];
    let mut x = 11u64;
    for i in 0..50_000u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Windows mostly in order, every 50th event reaching back (out of order).
        let window = if i % 50 == 0 {
            (i / 1000) as i64 / 2
        } else {
            (i / 1000) as i64
        };
        let (key, c) = if i % 10 == 0 {
            ("attacker".to_string(), err)
        } else {
            (
                format!("10.{}.{}", x >> 48, (x >> 32) & 0xffff),
                if x % 7 == 0 { err } else { ok },
            )
        };
        if key == "attacker" {
            heavy.add(&c);
            per_window[window as usize] += 1;
        }
        total.add(&c);
        d.add(&key, window, &c);
        assert!(d.keys.len() <= 50, "tracked keys stay within 1.25 max_keys");
    }
    let grid = Grid::spanning(0, 49, 1);
    let (series, summary) = d.into_series(&grid);
    let summary = summary.expect("50 000 keys are more than 40");
    assert_eq!(summary.max_keys, 40);
    assert!(series.len() <= 40, "{} kept", series.len());
    assert!(summary.keys_seen > 40_000, "{}", summary.keys_seen);
    let mut sum = summary.other.total();
    for s in &series {
        sum.add(&s.total());
    }
    assert_eq!(sum, total, "every event is in a kept key or (other), once");
    let attacker = series.iter().find(|s| s.key == "attacker").expect("kept");
    assert_eq!(attacker.total(), heavy, "the heavy key's counts are exact");
    let got: Vec<u32> = attacker.values(|c| c.requests);
    assert_eq!(got, per_window, "and per window, out-of-order ones too");
}

/// At or under the limit nothing is summarised and the tables are as before.
#[test]
fn few_keys_are_not_summarised() {
    let ok = Counts {
        requests: 1,
        ..Default::default()
    };
    let mut d = Dim::with_max_keys(40);
    for i in 0..40 {
        d.add(&format!("k{i}"), i, &ok);
    }
    let (series, summary) = d.into_series(&Grid::spanning(0, 39, 1));
    assert!(summary.is_none());
    assert_eq!(series.len(), 40);
}

#[test]
fn bounds_drop_events_outside() {
    let events = vec![event(0, 200, "c1", "a"), event(30, 401, "c1", "a")];
    let since = events[1].ts;
    let mut c = Collector::new(
        5 * MINUTE_US,
        TimeBounds {
            since: Some(since),
            until: None,
        },
    )
    .unwrap();
    c.observe(&batch(&events), 0);
    assert_eq!(c.events(), 1);
    let dir = crate::testutil::tempdir().unwrap();
    let t = c.finish(dir.path(), 3).unwrap().unwrap();
    assert!(!t.has_successes);
    assert_eq!(t.min_ts, since);
}

/// Issue 28: what the fold holds follows the events, not keys x span. A year of 5-minute
/// windows (105,120) with 2,000 client addresses seen now and then (10 events a day):
/// window-major dense slabs held a cell per key known so far in every window (about 100
/// million cells, 1.4 GB); the windows the input has moved past keep only their keys
/// with counts, packed.
#[test]
fn a_long_sparse_span_holds_cells_for_its_events_only() {
    let step = 5 * MINUTE_US;
    let mut c = Collector::with_max_keys(step, TimeBounds::default(), 5000).unwrap();
    let days = 365i64;
    let mut events = Vec::new();
    for d in 0..days {
        for k in 0..10i64 {
            let ip = format!("10.0.{}.{}", (d * 10 + k) % 2000 / 250, (d * 10 + k) % 250);
            events.push(event(
                d * 1440 + k * 97,
                if k == 3 { 500 } else { 200 },
                "c1",
                &ip,
            ));
        }
    }
    for (i, chunk) in events.chunks(500).enumerate() {
        c.observe(&batch(chunk), i as u64);
    }
    let held = c.cells_held();
    // Ten dimensions at most per event, plus the dense windows at the front (12 windows
    // of every key known).
    let bound = events.len() * 10 + 12 * 2_100 * 10;
    assert!(
        held <= bound,
        "{held} cells held for {} events",
        events.len()
    );
    // And the bytes: the windows the input has moved past are packed, at most 16 bytes a
    // window per dimension (offsets, with room to grow) and 24 a cell, plus the open
    // windows, dense. A slab per window (48 bytes, before its cells) held 50 MB here.
    let windows = days as usize * 288;
    let dims = c.dims.len();
    let bytes_bound = dims * windows * 16 + bound * 24;
    let bytes = c.window_bytes();
    assert!(
        bytes <= bytes_bound,
        "{bytes} bytes held over {windows} windows of {dims} dimensions"
    );
    assert!(
        bytes_bound < dims * windows * 48,
        "the bound tells the two apart"
    );
    let dir = crate::testutil::tempdir().unwrap();
    let t = c.finish(dir.path(), 3).unwrap().unwrap();
    let ip = t.dim(Dimension::IpAddress).unwrap();
    let total: u64 = ip
        .series
        .iter()
        .map(|s| u64::from(s.total().requests))
        .sum();
    assert_eq!(total, events.len() as u64, "every event counted once");
}

/// Two files over the same days (an export and its overlapping successor), folded one after
/// the other: the second reaches back over windows already packed, reopening them (and
/// packing them again in bulk). The tables equal those of the same events in time order.
#[test]
fn a_second_file_over_the_same_days_counts_as_one_pass_in_time_order() {
    let step = 5 * MINUTE_US;
    let days = 3i64;
    let file = |offset: i64| -> Vec<Event<'static>> {
        (0..days * 1440 / 7)
            .map(|k| {
                let min = k * 7 + offset;
                let status = [200, 200, 401, 500, 429][(k % 5) as usize];
                let ip = format!("10.1.{}.{}", k % 3, (k * 13 + offset) % 40);
                event(min, status, if k % 4 == 0 { "c2" } else { "c1" }, &ip)
            })
            .collect()
    };
    let (a, b) = (file(0), file(3));
    let dir = crate::testutil::tempdir().unwrap();
    let mut two = Collector::with_max_keys(step, TimeBounds::default(), 30).unwrap();
    for (i, chunk) in a.chunks(400).chain(b.chunks(400)).enumerate() {
        two.observe(&batch(chunk), i as u64);
        if i * 400 == a.len().next_multiple_of(400) {
            // The first batch of the second file went back over packed windows.
            assert!(two.dims.iter().any(|d| d.closed.reopened() > 0));
        }
    }
    let two = two.finish(dir.path(), 3).unwrap().unwrap();

    let mut sorted: Vec<Event<'static>> = a.iter().chain(&b).cloned().collect();
    sorted.sort_by_key(|e| e.ts);
    let mut one = Collector::with_max_keys(step, TimeBounds::default(), 30).unwrap();
    for (i, chunk) in sorted.chunks(400).enumerate() {
        one.observe(&batch(chunk), i as u64);
    }
    let one = one.finish(dir.path(), 3).unwrap().unwrap();
    for (x, y) in one.dims.iter().zip(&two.dims) {
        let totals = |d: &DimTable| -> Vec<(String, Vec<Counts>)> {
            d.series
                .iter()
                .map(|s| (s.key.clone(), s.counts.iter().collect()))
                .collect()
        };
        if x.summary.is_none() {
            assert_eq!(totals(x), totals(y), "{}", x.dimension);
        }
        let all = |d: &DimTable| {
            let mut t = Counts::default();
            d.rate_series().for_each(|s| t.add(&s.total()));
            t
        };
        assert_eq!(all(x), all(y), "{}: every event once", x.dimension);
    }
    assert_eq!(one.grid, two.grid);
}
