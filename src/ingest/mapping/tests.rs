//! Unit tests of the walk, the fast path and the scanners.

use super::*;

#[test]
fn short_prefix_compare_matches_starts_with() {
    let keys = [
        "",
        "a",
        "ts",
        "abc",
        "user",
        "status",
        "timestamp",
        "request_id",
    ];
    let keys2 = ["organization_id", "error_description_x", "zz"];
    for k in keys.iter().chain(&keys2) {
        for hay in [
            format!("{k}\":1"),
            k.to_string(),
            format!("x{k}\""),
            k.chars().rev().collect::<String>(),
            format!("{}Z\"", &k[..k.len().saturating_sub(1)]),
        ] {
            assert_eq!(
                starts_with_short(hay.as_bytes(), k.as_bytes()),
                hay.as_bytes().starts_with(k.as_bytes()),
                "{hay:?} / {k:?}"
            );
        }
    }
}

/// The fast path offers strings as they are to the targets `takes_text_as_is` names:
/// `coerce` must make exactly that of every string for them (and something else, or
/// nothing, of some string for the others).
#[test]
fn text_as_is_agrees_with_coerce() {
    let strings = [
        "abc",
        " 42 ",
        "42",
        "",
        "2024-03-01T00:00:00Z",
        "true",
        "warn",
        "30s",
        "{}",
    ];
    use Target as T;
    let all = [
        T::Ts,
        T::Status,
        T::Code,
        T::Error,
        T::ErrorCode,
        T::Message,
        T::Level,
        T::RequestId,
        T::ConnectionId,
        T::OrganizationId,
        T::UserId,
        T::Endpoint,
        T::Method,
        T::IpAddress,
        T::UserAgent,
        T::Service,
        T::RetryAfter,
        T::RetryAfterMs,
        T::Retryable,
        T::Details,
        T::Downstream,
        T::Outcome,
        T::SecurityAction,
        T::TraceId,
        T::Errors,
    ];
    assert_eq!(all.len(), Target::COUNT);
    for target in all {
        let as_is = |s: &str| {
            matches!(coerce(target, &Scalar::Str(Cow::Borrowed(s))),
                Some(Val::Text(Cow::Borrowed(v))) if v == s)
        };
        if takes_text_as_is(target) {
            assert!(strings.iter().all(|s| as_is(s)), "{target:?}");
        } else if target != Target::Errors {
            assert!(!strings.iter().all(|s| as_is(s)), "{target:?}");
        }
    }
}

#[test]
fn trim_agrees_with_str_trim() {
    for s in [
        "", " ", "a", " a", "a ", "\ta\n", "abc", "\u{a0}x", "x\u{a0}", "\u{3000}", "é", "x é",
        "~!", "\u{7f}",
    ] {
        assert_eq!(trim(s), s.trim(), "{s:?}");
    }
}

#[test]
fn word_scanner_agrees_with_a_byte_loop() {
    // Every stop byte at every position of strings around the word size, with bytes
    // above 0x7f (UTF-8) and just above 0x20 around it.
    let fill = [b'a', 0x21, 0x7f, 0x80, 0xff, b'!', b'#', b']'];
    for len in 0..20 {
        for stop in [b'"', b'\\', 0x00, 0x1f, 0x0a] {
            for pos in 0..=len {
                let mut s = vec![b'"'];
                s.extend((0..len).map(|k| fill[k % fill.len()]));
                if pos < len {
                    s[1 + pos] = stop;
                }
                s.extend_from_slice(b"\"tail");
                let expected = s[1..]
                    .iter()
                    .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                    .filter(|&n| s[1 + n] == b'"')
                    .map(|n| 1 + n);
                assert_eq!(plain_string_end(&s, 1), expected, "{s:?}");
            }
        }
    }
}

#[test]
fn string_scanner_stops_at_quotes_escapes_and_controls() {
    assert_eq!(plain_string_end(b"\"abc\"", 1), Some(4));
    assert_eq!(plain_string_end(b"\"\"", 1), Some(1));
    assert_eq!(plain_string_end(b"\"a\\\"b\"", 1), None);
    assert_eq!(plain_string_end(b"\"a\tb\"", 1), None);
    assert_eq!(plain_string_end(b"\"abc", 1), None);
    assert_eq!(plain_string_end("\"é\"".as_bytes(), 1), Some(3));
}

/// Regression (issue 29): endpoints kept query strings and ids (`/adAnalytics?page=25`),
/// splitting the endpoint breakdown into one key per page.
#[test]
fn endpoints_are_routes() {
    use super::event::route_of;
    for (raw, route) in [
        ("/adAnalytics?page=25", "/adAnalytics"),
        ("/v1/orders/8812", "/v1/orders/{id}"),
        (
            "/v1/users/3f2b9c1e-8a4d-4c2f-9b7e-1d2c3b4a5f60/tokens",
            "/v1/users/{id}/tokens",
        ),
        (
            "https://api.example.com/v2/items/4242?x=1#top",
            "https://api.example.com/v2/items/{id}",
        ),
        ("/v1/admin/7", "/v1/admin/7"),
        ("/v1/flows", "/v1/flows"),
        ("/api/v1/data_sets", "/api/v1/data_sets"),
        ("storage.objects.get", "storage.objects.get"),
        ("/v2/2fa/verify", "/v2/2fa/verify"),
    ] {
        assert_eq!(route_of(raw), route, "{raw}");
    }
    assert!(matches!(route_of("/v1/flows"), Cow::Borrowed(_)));
}

#[test]
fn the_one_pass_route_check_agrees_with_the_steps() {
    use super::event::{route_changes, route_in_steps};
    let mut cases: Vec<String> = [
        "/api/v1/accounts",
        "/v1/orders/8812",
        "/v1/orders/88",
        "https://api.example.com/v2/users/5f2b9c1e7a3d4b6c?x=1",
        "/files/123e4567-e89b-12d3-a456-426614174000/meta",
        "/t/AbCdEfGhIjKlMnOpQrSt1",
        "/t/AbCdEfGhIjKlMnOpQrSt",
        "GetUser",
        "12345",
        "/",
        "",
        "/a#frag",
        "/é/123",
        "/deadbeefdeadbeef0/",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Random paths over the bytes the rules look at.
    let alphabet: Vec<char> = "/?#09af-_xZ.é".chars().collect();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 40) as usize;
        cases.push(
            (0..len)
                .map(|i| alphabet[((x >> (i % 48)) as usize + i * 7) % alphabet.len()])
                .collect(),
        );
    }
    for ep in &cases {
        let changes = matches!(route_in_steps(ep), Cow::Owned(_));
        assert_eq!(route_changes(ep), changes, "{ep:?}");
    }
}

#[test]
fn plain_ipv4_agrees_with_the_standard_parser() {
    let fixed = [
        "10.223.75.133",
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "1.2.3.4.5",
        "1.2.3",
        "01.2.3.4",
        "1.2.3.04",
        "1..2.3",
        ".1.2.3",
        "1.2.3.",
        "1.2.3.4:80",
        " 1.2.3.4",
        "1.2.3.4,5.6.7.8",
        "::1",
        "1000.1.1.1",
        "1.2.3.999",
    ];
    // 20,000 random strings of 7 to 15 digits and dots (xorshift, fixed seed).
    let mut all: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
    let alphabet = ['0', '1', '2', '5', '9', '.'];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        let len = 7 + (seed % 9) as usize;
        let s: String = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                alphabet[(seed % alphabet.len() as u64) as usize]
            })
            .collect();
        all.push(s);
    }
    // Every quad of these octets, good and bad (256, leading zeros, empty).
    let octets = [
        "0", "1", "9", "10", "99", "100", "255", "256", "01", "001", "",
    ];
    for a in octets {
        for b in octets {
            for c in octets {
                for d in octets {
                    all.push(format!("{a}.{b}.{c}.{d}"));
                }
            }
        }
    }
    let mut plain = 0;
    for s in &all {
        let std_ok = s.parse::<std::net::Ipv4Addr>().is_ok();
        assert_eq!(is_plain_ipv4(s), std_ok, "{s:?}");
        plain += usize::from(std_ok);
        // The fast path changes no outcome of the general one.
        assert_eq!(is_ip(s), is_ip_general(s), "{s:?}");
        if std_ok {
            assert_eq!(clean_ip(Cow::Borrowed(s.as_str())), s.as_str());
        }
    }
    assert!(plain > 2_000, "the sample holds addresses ({plain})");
}
