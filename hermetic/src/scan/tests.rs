//! Each built-in rule against a value of its format and against near misses.

use super::*;

/// The built-in pack, compiled once for all tests here.
fn scanner() -> &'static Scanner {
    static SCANNER: std::sync::OnceLock<Scanner> = std::sync::OnceLock::new();
    SCANNER.get_or_init(|| Scanner::new(RulePack::builtin()))
}

fn rules_found(text: &str) -> Vec<String> {
    scanner()
        .scan_bytes(text.as_bytes(), "sample.txt")
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

/// Deterministic filler of an alphabet (synthetic, never a real token).
fn filler(alphabet: &str, n: usize, seed: u64) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chars[(x % chars.len() as u64) as usize]
        })
        .collect()
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &str = "0123456789abcdef";

#[test]
fn every_github_token_prefix_is_its_own_rule() {
    for (prefix, rule) in [
        ("ghp_", "github-pat"),
        ("gho_", "github-oauth-token"),
        ("ghu_", "github-user-to-server-token"),
        ("ghs_", "github-server-to-server-token"),
        ("ghr_", "github-refresh-token"),
    ] {
        let token = format!("{prefix}{}", filler(ALNUM, 36, 1));
        assert_eq!(
            rules_found(&format!("GITHUB_TOKEN={token}\n")),
            [rule],
            "{prefix}"
        );
        // One character short is no token.
        assert!(rules_found(&format!("x {}\n", &token[..token.len() - 1])).is_empty());
    }
    let fine = format!(
        "github_pat_{}_{}",
        filler(ALNUM, 22, 2),
        filler(ALNUM, 59, 3)
    );
    assert_eq!(
        rules_found(&format!("token: {fine}")),
        ["github-fine-grained-pat"]
    );
}

#[test]
fn aws_keys_are_found_and_the_documentation_key_is_not() {
    let id = format!("AKIA{}", filler("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 4));
    let secret = filler(&format!("{ALNUM}+/"), 40, 5);
    let text = format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n");
    assert_eq!(
        rules_found(&text),
        ["aws-access-key-id", "aws-secret-access-key"]
    );
    assert!(rules_found("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n").is_empty());
    assert!(rules_found("Asia/Kolkata ASIATIMEZONEDATABASE1\n").is_empty());
}

#[test]
fn private_keys_are_found_with_real_or_escaped_line_ends() {
    let body: Vec<String> = (0..6)
        .map(|i| filler(&format!("{ALNUM}+/"), 64, 10 + i))
        .collect();
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        body.join("\n")
    );
    assert_eq!(rules_found(&pem), ["private-key"]);
    let json = format!(
        "{{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n\"}}",
        body.join("\\n")
    );
    assert_eq!(rules_found(&json), ["private-key"]);
    let ssh = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{}\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        filler(ALNUM, 46, 20),
        filler(ALNUM, 70, 21)
    );
    assert_eq!(rules_found(&ssh), ["openssh-private-key"]);
    // A public key or a certificate is not a secret.
    let public = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        body.join("\n")
    );
    assert!(rules_found(&public).is_empty());
    // Prose about keys is not a key.
    assert!(rules_found("the -----BEGIN PRIVATE KEY----- marker starts a key\n").is_empty());
}

#[test]
fn generic_assignments_need_a_random_looking_value() {
    let value = filler(ALNUM, 24, 30);
    assert_eq!(
        rules_found(&format!("DB_PASSWORD=\"{value}\"\n")),
        ["generic-secret"]
    );
    assert_eq!(
        rules_found(&format!("  client_secret: {value}\n")),
        ["generic-secret"]
    );
    for clean in [
        "password = \"${DB_PASSWORD}\"\n",
        "let token = self.next_token_from_the_stream();\n",
        "token_path: /var/run/secrets/kubernetes.io/serviceaccount/token\n",
        "password: changeme-changeme-changeme\n",
        "api_key = \"xxxxxxxxxxxxxxxxxxxxxxxx\"\n",
        "secret: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
    ] {
        assert!(rules_found(clean).is_empty(), "{clean}");
    }
}

#[test]
fn a_generic_finding_yields_to_the_specific_token_inside_it() {
    let token = format!("npm_{}", filler(ALNUM, 36, 40));
    assert_eq!(
        rules_found(&format!("NPM_TOKEN={token}\n")),
        ["npm-access-token"]
    );
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{}",
        filler(ALNUM, 43, 41)
    );
    assert_eq!(
        rules_found(&format!("Authorization: Bearer {jwt}\n")),
        ["jwt"]
    );
}

#[test]
fn each_finding_has_position_and_fingerprint_but_never_the_value() {
    let token = format!("glpat-{}", filler(ALNUM, 20, 50));
    let text = format!("first line\n  remote = \"{token}\"\n");
    let found = scanner().scan_bytes(text.as_bytes(), "cfg.toml");
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!((f.rule.as_str(), f.line, f.column), ("gitlab-pat", 2, 13));
    assert_eq!((f.end_line, f.end_column), (2, 12 + token.len() as u64));
    assert_eq!(f.fingerprint, Fingerprint::of(token.as_bytes()));
    let shown = format!("{f} {f:?}");
    assert!(!shown.contains(&token[6..]), "{shown}");
}

#[test]
fn tokens_of_other_services_are_found() {
    let cases = [
        (
            format!(
                "xoxb-{}-{}-{}",
                filler("0123456789", 11, 1),
                filler("0123456789", 12, 2),
                filler(ALNUM, 24, 3)
            ),
            "slack-bot-token",
        ),
        (
            format!(
                "xoxp-{}-{}-{}-{}",
                filler("0123456789", 11, 4),
                filler("0123456789", 11, 5),
                filler("0123456789", 12, 6),
                filler(HEX, 32, 7)
            ),
            "slack-user-token",
        ),
        (
            format!(
                "xapp-1-A{}-{}-{}",
                filler("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10, 8),
                filler("0123456789", 13, 9),
                filler(HEX, 64, 10)
            ),
            "slack-app-token",
        ),
        (
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                filler("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 8, 11),
                filler("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10, 12),
                filler(ALNUM, 24, 13)
            ),
            "slack-webhook-url",
        ),
        (
            format!("sk_live_{}", filler(ALNUM, 24, 14)),
            "stripe-secret-key",
        ),
        (
            format!("rk_test_{}", filler(ALNUM, 24, 15)),
            "stripe-restricted-key",
        ),
        (format!("AIza{}", filler(ALNUM, 35, 16)), "google-api-key"),
        (
            format!("GOCSPX-{}", filler(ALNUM, 28, 17)),
            "google-oauth-client-secret",
        ),
        (
            format!("pypi-AgEIcHlwaS5vcmc{}", filler(ALNUM, 60, 18)),
            "pypi-upload-token",
        ),
        (
            format!("dop_v1_{}", filler(HEX, 64, 19)),
            "digitalocean-token",
        ),
        (
            format!("hvs.{}", filler(ALNUM, 90, 20)),
            "hashicorp-vault-token",
        ),
        (format!("shpat_{}", filler(HEX, 32, 21)), "shopify-token"),
        (
            format!("dckr_pat_{}", filler(ALNUM, 27, 22)),
            "docker-hub-pat",
        ),
        (
            format!(
                "hf_{}",
                filler(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                    34,
                    23
                )
            ),
            "huggingface-token",
        ),
        (
            format!(
                "sk-proj-{}T3BlbkFJ{}",
                filler(ALNUM, 20, 24),
                filler(ALNUM, 20, 25)
            ),
            "openai-api-key",
        ),
        (
            format!("sk-ant-api03-{}", filler(ALNUM, 93, 26)),
            "anthropic-api-key",
        ),
        (
            format!("SG.{}.{}", filler(ALNUM, 22, 27), filler(ALNUM, 43, 28)),
            "sendgrid-api-key",
        ),
        (
            format!(
                "https://discord.com/api/webhooks/{}/{}",
                filler("0123456789", 18, 29),
                filler(ALNUM, 68, 30)
            ),
            "discord-webhook-url",
        ),
        (
            format!(
                "DefaultEndpointsProtocol=https;AccountName=x;AccountKey={}==",
                filler(ALNUM, 86, 31)
            ),
            "azure-storage-account-key",
        ),
        (
            format!(
                "postgres://app:{}@db.internal:5432/app",
                filler(ALNUM, 16, 32)
            ),
            "url-credentials",
        ),
        (
            format!("curl -H 'Authorization: Basic {}'", filler(ALNUM, 28, 33)),
            "http-basic-auth",
        ),
        (
            format!("Authorization: Bearer {}", filler(ALNUM, 40, 34)),
            "http-bearer-token",
        ),
    ];
    for (value, rule) in cases {
        let text = format!("value: \"{value}\"\n");
        assert_eq!(rules_found(&text), [rule], "{rule}");
    }
}

#[test]
fn a_rule_file_can_extend_the_builtin_pack_and_allowlist_a_path() {
    let pack = RulePack::from_toml(
        "[extend]\nuseDefault = true\n[[rules]]\nid = \"internal\"\nregex = '''corp_[a-z0-9]{16}'''\nkeywords = [\"corp_\"]\n[[allowlists]]\ntargetRules = [\"npm-access-token\"]\npaths = ['''fixtures/''']\n",
        "t",
        None,
    )
    .unwrap();
    let s = Scanner::new(pack);
    let npm = format!("npm_{}", filler(ALNUM, 36, 60));
    let text = format!("corp_0123456789abcdef {npm}\n");
    let rules = |path: &str| -> Vec<String> {
        s.scan_bytes(text.as_bytes(), path)
            .into_iter()
            .map(|f| f.rule)
            .collect()
    };
    assert_eq!(rules("src/a"), ["internal", "npm-access-token"]);
    assert_eq!(rules("fixtures/a"), ["internal"]);
}
