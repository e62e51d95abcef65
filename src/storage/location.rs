//! Object URLs as users write them (`s3://bucket/prefix/`, `gs://…`, `az://…`,
//! `abfss://container@account.dfs.core.windows.net/…`, `https://host/file`), split into
//! the store they name and the key inside it.

use std::fmt;

/// The kind of store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    S3,
    Gcs,
    Azure,
    Http,
}

/// A parsed object URL. Its [`Display`](fmt::Display) form is what messages, the
/// `source_file` column and the manifest show: never a user name, password or query string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub scheme: Scheme,
    /// `scheme://authority` as given (the scheme lower-cased), without user info: the
    /// store's identity.
    pub root: String,
    /// The bucket, container or host.
    pub bucket: String,
    /// The key or prefix inside the store, without a leading `/` (empty: the whole store).
    pub key: String,
}

/// Whether `s` is an object URL errscope reads (else it is a local path).
pub fn is_url(s: &str) -> bool {
    scheme_of(s).is_some()
}

fn scheme_of(s: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "s3" | "s3a" => Scheme::S3,
        "gs" | "gcs" => Scheme::Gcs,
        "az" | "azure" | "abfs" | "abfss" | "adl" => Scheme::Azure,
        "http" | "https" => Scheme::Http,
        _ => return None,
    };
    Some((kind, scheme, rest))
}

impl Location {
    /// `None`: not a URL; `Some(Err)`: a URL errscope cannot use, with the reason.
    pub fn parse(s: &str) -> Option<Result<Location, String>> {
        let (scheme, scheme_text, rest) = scheme_of(s)?;
        let (authority, key) = rest.split_once('/').unwrap_or((rest, ""));
        // User info never travels into a name (`https://user:secret@host/`).
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(user, host)| {
                // Azure's `container@account.dfs.core.windows.net` is not user info.
                if scheme == Scheme::Azure && !user.contains(':') {
                    authority
                } else {
                    host
                }
            });
        if authority.is_empty() {
            return Some(Err(format!(
                "{s}: no bucket in the URL (write {scheme_text}://BUCKET/PREFIX)"
            )));
        }
        let mut key = key.to_string();
        if let Some(q) = key.find(['?', '#']).filter(|_| scheme == Scheme::Http) {
            key.truncate(q);
        }
        let bucket = authority.split('@').next().unwrap_or(authority).to_string();
        Some(Ok(Location {
            scheme,
            root: format!("{}://{authority}", scheme_text.to_ascii_lowercase()),
            bucket,
            key: key.trim_start_matches('/').to_string(),
        }))
    }

    /// The location of `rel` under this one (as a folder).
    pub fn join(&self, rel: &str) -> Location {
        let key = match self.key.trim_end_matches('/') {
            "" => rel.to_string(),
            k => format!("{k}/{rel}"),
        };
        Location {
            key,
            ..self.clone()
        }
    }

    /// The key as an object path (`a/b/c`, no leading or trailing `/`).
    pub fn path(&self) -> object_store::path::Path {
        object_store::path::Path::from(self.key.trim_matches('/'))
    }

    /// The literal prefix of the key before its first segment with a glob character, and
    /// whether the key holds a pattern.
    pub fn literal_prefix(&self) -> (&str, bool) {
        let mut end = 0;
        for seg in self.key.split('/') {
            if seg.contains(['*', '?', '[']) {
                return (&self.key[..end], true);
            }
            end = (end + seg.len() + 1).min(self.key.len());
        }
        (&self.key, false)
    }

    /// Whether the object at `key` (in the same store) lies under this location as a folder.
    pub fn contains(&self, other: &Location) -> bool {
        if self.root != other.root {
            return false;
        }
        let mine = self.key.trim_end_matches('/');
        mine.is_empty()
            || other.key == mine
            || other
                .key
                .strip_prefix(mine)
                .is_some_and(|r| r.starts_with('/'))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.root, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        Location::parse(s).unwrap().unwrap()
    }

    #[test]
    fn urls_split_into_store_and_key() {
        let l = loc("s3://logs/AWSLogs/2026/*/*.json.gz");
        assert_eq!((l.scheme, l.bucket.as_str()), (Scheme::S3, "logs"));
        assert_eq!(l.literal_prefix(), ("AWSLogs/2026/", true));
        assert_eq!(loc("s3://logs/a/b/").literal_prefix(), ("a/b/", false));
        assert_eq!(loc("gs://b").key, "");
        let az = loc("abfss://box@acct.dfs.core.windows.net/x/y.ndjson");
        assert_eq!((az.scheme, az.bucket.as_str()), (Scheme::Azure, "box"));
        assert_eq!(az.root, "abfss://box@acct.dfs.core.windows.net");
        assert!(Location::parse("logs/a.ndjson").is_none());
        assert!(Location::parse("s3:///x").unwrap().is_err());
    }

    #[test]
    fn names_carry_no_credentials() {
        let l = loc("https://user:secret@example.com/logs/a.ndjson?X-Amz-Signature=abc");
        assert_eq!(l.to_string(), "https://example.com/logs/a.ndjson");
    }

    #[test]
    fn folders_contain_their_keys_only() {
        let out = loc("s3://b/out");
        assert!(out.contains(&loc("s3://b/out/events/x.parquet")));
        assert!(!out.contains(&loc("s3://b/outside/x")));
        assert!(!out.contains(&loc("s3://c/out/x")));
        assert_eq!(out.join("events").to_string(), "s3://b/out/events");
    }
}
