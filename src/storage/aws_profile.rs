//! The shared AWS profile (`~/.aws/credentials` and `~/.aws/config`), read the way the AWS
//! CLI reads it, for runs with no `AWS_ACCESS_KEY_ID` in the environment: static keys, a
//! session token, the region and `endpoint_url`. Profiles that run a program or sign in
//! through SSO are named with what to do instead; errscope never runs them.

use std::path::PathBuf;

use ini::Ini;
use object_store::aws::AmazonS3Builder;

/// What a profile gives.
#[derive(Debug, Default)]
pub struct Profile {
    key_id: Option<String>,
    secret: Option<String>,
    token: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
}

impl Profile {
    /// Sets what the profile holds on the builder (the environment, applied later, wins).
    pub fn apply(self, mut b: AmazonS3Builder) -> AmazonS3Builder {
        if let (Some(id), Some(secret)) = (self.key_id, self.secret) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(t) = self.token {
                b = b.with_token(t);
            }
        }
        if let Some(r) = self.region {
            b = b.with_region(r);
        }
        if let Some(e) = self.endpoint {
            b = b.with_endpoint(e);
        }
        b
    }
}

fn home_file(env: &dyn Fn(&str) -> Option<String>, var: &str, default: &str) -> Option<PathBuf> {
    env(var)
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(default)))
}

/// The profile `AWS_PROFILE` names (else `default`), if the shared files hold it. A
/// profile named in `AWS_PROFILE` and found nowhere is an error; so is one that only an
/// SSO sign-in or a credential program can use.
pub fn load() -> Result<Option<Profile>, String> {
    load_with(&|k| std::env::var(k).ok())
}

fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Profile>, String> {
    let named = env("AWS_PROFILE").filter(|p| !p.is_empty());
    let name = named.clone().unwrap_or_else(|| "default".into());
    let creds_path = home_file(env, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    let config_path = home_file(env, "AWS_CONFIG_FILE", ".aws/config");
    let read = |p: &Option<PathBuf>| -> Result<Option<Ini>, String> {
        match p {
            Some(p) if p.is_file() => Ini::load_from_file(p)
                .map(Some)
                .map_err(|e| format!("cannot read the AWS profile file {}: {e}", p.display())),
            _ => Ok(None),
        }
    };
    let creds = read(&creds_path)?;
    let config = read(&config_path)?;
    let config_section = if name == "default" {
        "default".to_string()
    } else {
        format!("profile {name}")
    };
    let in_creds = creds.as_ref().and_then(|i| i.section(Some(name.as_str())));
    let in_config = config
        .as_ref()
        .and_then(|i| i.section(Some(config_section.as_str())));
    if in_creds.is_none() && in_config.is_none() {
        return match named {
            Some(n) => Err(format!(
                "AWS_PROFILE={n}: no such profile in {} or {}",
                creds_path.map_or("~/.aws/credentials".into(), |p| p.display().to_string()),
                config_path.map_or("~/.aws/config".into(), |p| p.display().to_string()),
            )),
            None => Ok(None),
        };
    }
    let get = |key: &str| {
        in_creds
            .and_then(|s| s.get(key))
            .or_else(|| in_config.and_then(|s| s.get(key)))
            .map(str::to_string)
    };
    let p = Profile {
        key_id: get("aws_access_key_id"),
        secret: get("aws_secret_access_key"),
        token: get("aws_session_token"),
        region: get("region"),
        endpoint: get("endpoint_url"),
    };
    if p.key_id.is_none() {
        for (key, how) in [
            ("sso_session", "SSO"),
            ("sso_start_url", "SSO"),
            ("credential_process", "a credential_process"),
            ("role_arn", "an assumed role"),
        ] {
            if get(key).is_some() {
                return Err(format!(
                    "AWS profile {name:?} signs in through {how}, which errscope does not run; \
                     export its credentials first: eval \"$(aws configure export-credentials \
                     --profile {name} --format env)\""
                ));
            }
        }
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_profile_is_read_from_both_files() {
        let dir = crate::testutil::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\
             [ci]\naws_access_key_id = C\naws_secret_access_key = D\naws_session_token = T\n",
        )
        .unwrap();
        std::fs::write(
            &config,
            "[profile ci]\nregion = eu-west-1\nendpoint_url = http://127.0.0.1:1\n\
             [profile sso]\nsso_session = corp\n",
        )
        .unwrap();
        let env = |profile: &'static str| {
            let (creds, config) = (creds.clone(), config.clone());
            move |k: &str| match k {
                "AWS_SHARED_CREDENTIALS_FILE" => Some(creds.display().to_string()),
                "AWS_CONFIG_FILE" => Some(config.display().to_string()),
                "AWS_PROFILE" => Some(profile.to_string()),
                _ => None,
            }
        };
        let p = load_with(&env("ci")).unwrap().unwrap();
        assert_eq!(p.key_id.as_deref(), Some("C"));
        assert_eq!(p.token.as_deref(), Some("T"));
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        assert_eq!(p.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        let e = load_with(&env("sso")).unwrap_err();
        assert!(e.contains("export-credentials"), "{e}");
        let e = load_with(&env("nope")).unwrap_err();
        assert!(e.contains("no such profile"), "{e}");
        let d = load_with(&env("")).unwrap().unwrap();
        assert_eq!(
            d.key_id.as_deref(),
            Some("A"),
            "no AWS_PROFILE: the default profile"
        );
    }
}
