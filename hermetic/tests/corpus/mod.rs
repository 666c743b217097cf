//! A labeled corpus of planted secrets, made on the spot: realistic files (Rust, Python, Go,
//! JavaScript, JSON, YAML, .env, logs, base64 blobs, PEM files) holding synthetic tokens of every
//! kind the built-in rules cover, plus files of near misses that must not be reported.
//!
//! Every token is random characters in the provider's documented shape (prefix, alphabet,
//! length) from a seeded generator: none is, or was ever, a real credential. The labels say, for
//! each token, the file, the line where the scanner must report it and the rule that must.
//!
//! Shared by `tests/scan_corpus.rs` and `examples/plant_secrets.rs` (used by `ci/bench/scan.sh`).

#![allow(dead_code)]

use std::path::Path;

use base64::Engine;

/// One planted token: where it must be reported and by which rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Label {
    /// Path relative to the corpus root, `/`-separated.
    pub file: String,
    pub line: u64,
    pub rule: &'static str,
}

/// A small deterministic generator (xorshift64*): enough for test data, never for keys.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn string(&mut self, alphabet: &str, n: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..n).map(|_| chars[self.below(chars.len())]).collect()
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const DIGITS: &str = "0123456789";
const HEX: &str = "0123456789abcdef";
const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URLSAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// The kinds of single-line tokens, each with its rule and a maker of a synthetic value.
/// A kind of planted value: the rule that must find it, and a maker of a synthetic value.
pub type Kind = (&'static str, fn(&mut Rng) -> String);

pub const TOKEN_KINDS: &[Kind] = &[
    ("github-pat", |r| format!("ghp_{}", r.string(ALNUM, 36))),
    ("github-oauth-token", |r| {
        format!("gho_{}", r.string(ALNUM, 36))
    }),
    ("github-user-to-server-token", |r| {
        format!("ghu_{}", r.string(ALNUM, 36))
    }),
    ("github-server-to-server-token", |r| {
        format!("ghs_{}", r.string(ALNUM, 36))
    }),
    ("github-refresh-token", |r| {
        format!("ghr_{}", r.string(ALNUM, 36))
    }),
    ("github-fine-grained-pat", |r| {
        format!("github_pat_{}_{}", r.string(ALNUM, 22), r.string(ALNUM, 59))
    }),
    ("aws-access-key-id", |r| {
        format!(
            "{}{}",
            r.pick(&["AKIA", "ASIA"]),
            r.string("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        )
    }),
    ("google-api-key", |r| {
        format!("AIza{}", r.string(URLSAFE, 35))
    }),
    ("google-oauth-client-secret", |r| {
        format!("GOCSPX-{}", r.string(ALNUM, 28))
    }),
    ("digitalocean-token", |r| {
        format!("dop_v1_{}", r.string(HEX, 64))
    }),
    ("hashicorp-vault-token", |r| {
        format!("hvs.{}", r.string(ALNUM, 90))
    }),
    ("slack-bot-token", |r| {
        format!(
            "xoxb-{}-{}-{}",
            r.string(DIGITS, 11),
            r.string(DIGITS, 13),
            r.string(ALNUM, 24)
        )
    }),
    ("slack-user-token", |r| {
        format!(
            "xoxp-{}-{}-{}-{}",
            r.string(DIGITS, 11),
            r.string(DIGITS, 11),
            r.string(DIGITS, 13),
            r.string(HEX, 32)
        )
    }),
    ("slack-app-token", |r| {
        format!(
            "xapp-1-A{}-{}-{}",
            r.string("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10),
            r.string(DIGITS, 13),
            r.string(HEX, 64)
        )
    }),
    ("slack-webhook-url", |r| {
        format!(
            "https://hooks.slack.com/services/T{}/B{}/{}",
            r.string("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 8),
            r.string("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10),
            r.string(ALNUM, 24)
        )
    }),
    ("discord-webhook-url", |r| {
        format!(
            "https://discord.com/api/webhooks/{}/{}",
            r.string(DIGITS, 18),
            r.string(URLSAFE, 68)
        )
    }),
    ("sendgrid-api-key", |r| {
        format!("SG.{}.{}", r.string(URLSAFE, 22), r.string(URLSAFE, 43))
    }),
    ("stripe-secret-key", |r| {
        format!("sk_{}_{}", r.pick(&["live", "test"]), r.string(ALNUM, 24))
    }),
    ("stripe-restricted-key", |r| {
        format!("rk_live_{}", r.string(ALNUM, 24))
    }),
    ("shopify-token", |r| format!("shpat_{}", r.string(HEX, 32))),
    ("npm-access-token", |r| {
        format!("npm_{}", r.string(ALNUM, 36))
    }),
    ("pypi-upload-token", |r| {
        format!("pypi-AgEIcHlwaS5vcmc{}", r.string(URLSAFE, 70))
    }),
    ("gitlab-pat", |r| format!("glpat-{}", r.string(URLSAFE, 20))),
    ("docker-hub-pat", |r| {
        format!("dckr_pat_{}", r.string(URLSAFE, 27))
    }),
    ("huggingface-token", |r| {
        format!("hf_{}", r.string(&format!("{UPPER}{LOWER}"), 34))
    }),
    ("openai-api-key", |r| {
        format!(
            "sk-proj-{}T3BlbkFJ{}",
            r.string(ALNUM, 24),
            r.string(ALNUM, 24)
        )
    }),
    ("anthropic-api-key", |r| {
        format!("sk-ant-api03-{}AA", r.string(URLSAFE, 93))
    }),
    ("jwt", |r| {
        let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload =
            b64url(format!(r#"{{"sub":"{}","iat":1716000000}}"#, r.string(DIGITS, 10)).as_bytes());
        format!("{header}.{payload}.{}", b64url(&r.bytes(32)))
    }),
];

/// Context kinds: a value recognised by where it stands. Each maker returns the whole snippet.
pub const CONTEXT_KINDS: &[Kind] = &[
    ("aws-secret-access-key", |r| {
        format!("aws_secret_access_key = {}", r.string(B64, 40))
    }),
    ("azure-storage-account-key", |r| {
        format!(
            "DefaultEndpointsProtocol=https;AccountName=store{};AccountKey={}==;EndpointSuffix=core.windows.net",
            r.string(DIGITS, 3),
            r.string(B64, 86)
        )
    }),
    ("url-credentials", |r| {
        format!(
            "postgres://app:{}@db.internal.example:5432/orders",
            r.string(ALNUM, 20)
        )
    }),
    ("http-bearer-token", |r| {
        format!("Authorization: Bearer {}", r.string(ALNUM, 40))
    }),
    ("http-basic-auth", |r| {
        let creds = format!("deploy:{}", r.string(ALNUM, 18));
        format!("Authorization: Basic {}", b64(creds.as_bytes()))
    }),
    ("generic-secret", |r| {
        let name = r.pick(&[
            "DB_PASSWORD",
            "client_secret",
            "apiKey",
            "SIGNING_SECRET",
            "auth_token",
        ]);
        format!("{name}=\"{}\"", r.string(ALNUM, 28))
    }),
];

/// A PEM or OpenSSH or PGP private key of the right shape (random body, not a key), its rule,
/// and the line (from its first) where its body starts, which is where it is reported.
fn private_key(r: &mut Rng, kind: usize) -> (String, &'static str, u64) {
    let lines = 8 + r.below(12);
    let body: Vec<String> = (0..lines).map(|_| r.string(B64, 64)).collect();
    let body = format!("{}\n{}==", body.join("\n"), r.string(B64, 30));
    match kind % 4 {
        0 => (
            format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"),
            "private-key",
            1,
        ),
        1 => (
            format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"),
            "private-key",
            1,
        ),
        2 => (
            format!(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{}\n{body}\n-----END OPENSSH PRIVATE KEY-----",
                r.string(B64, 40)
            ),
            "openssh-private-key",
            1,
        ),
        _ => (
            format!(
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\nComment: exported by a build bot\n\n{body}\n={}\n-----END PGP PRIVATE KEY BLOCK-----",
                r.string(B64, 4)
            ),
            "pgp-private-key-block",
            3,
        ),
    }
}

/// Lines of ordinary content, with values that look random but are not secrets (hashes,
/// UUIDs, base64 of binary data, version strings, URLs without credentials).
fn filler_line(r: &mut Rng, style: Style) -> String {
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        r.string(HEX, 8),
        r.string(HEX, 4),
        r.string(HEX, 4),
        r.string(HEX, 4),
        r.string(HEX, 12)
    );
    let sha = r.string(HEX, 64);
    let word = *r.pick(&[
        "request", "buffer", "client", "session", "handler", "config", "retry",
    ]);
    match style {
        Style::Rust => match r.below(8) {
            0 => format!("    let {word} = {word}_from(&ctx, {})?;", r.below(1000)),
            1 => format!("    // Checksum of the fixture: {sha}"),
            2 => format!("    assert_eq!(digest.to_hex(), \"{sha}\");"),
            3 => format!("    tracing::debug!(id = \"{uuid}\", \"{word} ready\");"),
            4 => "    let token = lexer.next_token()?;".to_owned(),
            5 => format!("    const TOKEN_LIMIT: usize = {};", r.below(4096)),
            6 => format!("    map.insert(key.clone(), {word}.len());"),
            _ => "    }".to_owned(),
        },
        Style::Python => match r.below(6) {
            0 => format!(
                "    {word} = build_{word}(settings, timeout={})",
                r.below(60)
            ),
            1 => format!("    logger.info(\"{word} %s\", \"{uuid}\")"),
            2 => "    password = os.environ[\"DB_PASSWORD\"]".to_owned(),
            3 => format!("    EXPECTED_SHA256 = \"{sha}\""),
            4 => "    token = request.headers.get(\"Authorization\")".to_owned(),
            _ => "    return result".to_owned(),
        },
        Style::Js => match r.below(5) {
            0 => format!(
                "  const {word} = await fetch{word}(id, {{ retries: {} }});",
                r.below(9)
            ),
            1 => "  const token = process.env.NPM_TOKEN;".to_owned(),
            2 => format!("  integrity: \"sha512-{}\",", b64(&r.bytes(64))),
            3 => format!("  // see https://docs.example.com/{word}/{}", r.below(99)),
            _ => "  });".to_owned(),
        },
        Style::Yaml => match r.below(6) {
            0 => format!("  {word}_timeout: {}", r.below(300)),
            1 => "      GH_TOKEN: ${{ secrets.GITHUB_TOKEN }}".to_owned(),
            2 => format!("  image: ghcr.io/acme/{word}@sha256:{sha}"),
            3 => "  password: ${DB_PASSWORD}".to_owned(),
            4 => format!("  checksum: {}", b64(&r.bytes(32))),
            _ => format!("  - name: {word}"),
        },
        Style::Log => {
            let ts = format!(
                "2024-05-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                1 + r.below(28),
                r.below(24),
                r.below(60),
                r.below(60),
                r.below(1000)
            );
            match r.below(6) {
                0 => format!("{ts} INFO  {word} started request_id={uuid}"),
                1 => format!(
                    "{ts} DEBUG fetched https://registry.example.org/{word}/-/{word}-1.2.{}.tgz",
                    r.below(9)
                ),
                2 => format!("{ts} WARN  retrying {word} after {}ms", r.below(5000)),
                3 => format!("{ts} INFO  layer sha256:{sha} pushed"),
                4 => format!("{ts} INFO  token refreshed for session {uuid}"),
                _ => format!("{ts} ERROR {word} failed: connection reset by peer"),
            }
        }
        Style::Env => match r.below(4) {
            0 => format!("{}_TIMEOUT={}", word.to_uppercase(), r.below(90)),
            1 => "API_KEY=".to_owned(),
            2 => format!("BUILD_ID={uuid}"),
            _ => "# values come from the vault at deploy time".to_owned(),
        },
    }
}

#[derive(Clone, Copy)]
enum Style {
    Rust,
    Python,
    Js,
    Yaml,
    Log,
    Env,
}

/// Builds one file line by line, keeping labels in step with line numbers.
struct FileBuilder {
    path: String,
    text: String,
    line: u64,
    labels: Vec<Label>,
}

impl FileBuilder {
    fn new(path: &str) -> FileBuilder {
        FileBuilder {
            path: path.to_owned(),
            text: String::new(),
            line: 0,
            labels: Vec::new(),
        }
    }

    fn push(&mut self, text: &str) {
        for l in text.split('\n') {
            self.text.push_str(l);
            self.text.push('\n');
            self.line += 1;
        }
    }

    /// Pushes `text`, whose secret the scanner must report on its line `offset` (0-based).
    fn plant(&mut self, text: &str, offset: u64, rule: &'static str) {
        self.labels.push(Label {
            file: self.path.clone(),
            line: self.line + 1 + offset,
            rule,
        });
        self.push(text);
    }

    fn filler(&mut self, r: &mut Rng, style: Style, n: usize) {
        for _ in 0..n {
            let l = filler_line(r, style);
            self.push(&l);
        }
    }
}

/// Writes the corpus under `root` (which must exist) and returns its labels, sorted. `scale`
/// multiplies the filler between planted values (1 for tests).
pub fn generate(root: &Path, seed: u64, scale: usize) -> std::io::Result<Vec<Label>> {
    let mut r = Rng::new(seed);
    let mut files: Vec<FileBuilder> = Vec::new();
    let gap = 3 * scale.max(1);

    // Every single-line token kind, four times each, in four kinds of source file.
    for (i, &(rule, make)) in TOKEN_KINDS.iter().enumerate() {
        let mut rs = FileBuilder::new(&format!("src/clients/{}.rs", rule.replace('-', "_")));
        rs.push("//! Client configuration.\n\nuse std::time::Duration;\n\npub fn defaults() -> Config {");
        rs.filler(&mut r, Style::Rust, gap);
        let t = make(&mut r);
        rs.plant(&format!("    let credential = \"{t}\";"), 0, rule);
        rs.filler(&mut r, Style::Rust, gap);
        let t = make(&mut r);
        rs.plant(
            &format!("    Config::new(\"https://api.example.com\", String::from(\"{t}\"))"),
            0,
            rule,
        );
        rs.push("}");
        files.push(rs);

        let mut py = FileBuilder::new(&format!("app/settings_{i:02}.py"));
        py.push("import os\n\n\ndef load(settings):");
        py.filler(&mut r, Style::Python, gap);
        let t = make(&mut r);
        py.plant(
            &format!("    settings.setdefault(\"UPSTREAM_CREDENTIAL\", '{t}')"),
            0,
            rule,
        );
        py.filler(&mut r, Style::Python, gap);
        files.push(py);

        let mut log = FileBuilder::new(&format!("logs/build-{i:02}.log"));
        log.filler(&mut r, Style::Log, gap * 2);
        let t = make(&mut r);
        log.plant(
            &format!("2024-05-02T10:11:12.000Z DEBUG using credential {t} for upload"),
            0,
            rule,
        );
        log.filler(&mut r, Style::Log, gap * 2);
        files.push(log);
    }

    // Structured files: JSON, YAML and .env holding a mix of kinds.
    for chunk in 0..4 {
        let mut json = FileBuilder::new(&format!("config/services-{chunk}.json"));
        json.push("{\n  \"services\": [");
        let mut yaml = FileBuilder::new(&format!("deploy/workflow-{chunk}.yml"));
        yaml.push("name: deploy\non: push\njobs:\n  deploy:\n    runs-on: self-hosted\n    env:");
        let mut env = FileBuilder::new(&format!("env/{chunk}.env"));
        for (k, &(rule, make)) in TOKEN_KINDS.iter().enumerate().skip(chunk).step_by(4) {
            json.push(&format!(
                "    {{\n      \"name\": \"svc{k}\",\n      \"timeout\": {},",
                r.below(90)
            ));
            let t = make(&mut r);
            json.plant(&format!("      \"credential\": \"{t}\""), 0, rule);
            json.push("    },");
            yaml.filler(&mut r, Style::Yaml, 1);
            let t = make(&mut r);
            yaml.plant(&format!("      SERVICE_{k}_CREDENTIAL: {t}"), 0, rule);
            env.filler(&mut r, Style::Env, 2);
            let t = make(&mut r);
            env.plant(&format!("SERVICE_{k}_CREDENTIAL={t}"), 0, rule);
        }
        json.push("    {}\n  ]\n}");
        files.extend([json, yaml, env]);
    }

    // Context kinds, three times each, in config files and logs.
    for (i, &(rule, make)) in CONTEXT_KINDS.iter().enumerate() {
        let mut f = FileBuilder::new(&format!("ops/context-{i}.conf"));
        for _ in 0..3 {
            f.filler(&mut r, Style::Env, gap);
            let t = make(&mut r);
            f.plant(&t, 0, rule);
        }
        files.push(f);
    }

    // Private keys: PEM files, a service account JSON (escaped line ends), a YAML block scalar.
    for k in 0..8 {
        let (key, rule, body) = private_key(&mut r, k);
        let mut pem = FileBuilder::new(&format!("keys/key-{k}.pem"));
        pem.plant(&key, body, rule);
        files.push(pem);
    }
    for k in 0..4 {
        let (key, rule, body) = private_key(&mut r, k);
        let mut js = FileBuilder::new(&format!("keys/service-account-{k}.json"));
        js.push(&format!(
            "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"acme-{k}\","
        ));
        js.plant(
            &format!("  \"private_key\": \"{}\\n\",", key.replace('\n', "\\n")),
            0,
            rule,
        );
        js.push("  \"client_email\": \"ci@acme.iam.example.com\"\n}");
        files.push(js);
        let mut ym = FileBuilder::new(&format!("deploy/ssh-{k}.yaml"));
        ym.push("apiVersion: v1\nkind: ConfigMap\ndata:\n  id: |");
        let indented: Vec<String> = key.lines().map(|l| format!("    {l}")).collect();
        ym.plant(&indented.join("\n"), body, rule);
        files.push(ym);
    }

    // Base64: Kubernetes secrets, a Docker config, and encoded config files.
    for chunk in 0..3 {
        let mut k8s = FileBuilder::new(&format!("deploy/secret-{chunk}.yaml"));
        k8s.push(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{chunk}\ntype: Opaque\ndata:"
        ));
        for (k, &(rule, make)) in TOKEN_KINDS.iter().enumerate().skip(chunk).step_by(3) {
            let t = make(&mut r);
            k8s.plant(&format!("  credential-{k}: {}", b64(t.as_bytes())), 0, rule);
        }
        files.push(k8s);
    }
    let mut docker = FileBuilder::new("home/.docker/config.json");
    docker.push("{\n  \"auths\": {");
    for (k, &(rule, make)) in TOKEN_KINDS.iter().take(6).enumerate() {
        let t = make(&mut r);
        docker.plant(
            &format!(
                "    \"registry{k}.example.com\": {{ \"auth\": \"{}\" }},",
                b64(format!("bot:{t}").as_bytes())
            ),
            0,
            rule,
        );
    }
    docker.push("    \"x\": {}\n  }\n}");
    files.push(docker);
    let mut blob = FileBuilder::new("blobs/encoded-npmrc.txt");
    for k in 0..4 {
        let t = format!("npm_{}", r.string(ALNUM, 36));
        let inner = format!("registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={t}\nalways-auth=true\n");
        blob.plant(
            &format!("npmrc_{k}: {}", b64(inner.as_bytes())),
            0,
            "npm-access-token",
        );
    }
    files.push(blob);

    // Near misses: nothing here may be reported.
    let mut clean = FileBuilder::new("clean/near-misses.txt");
    for text in NEAR_MISSES {
        clean.push(text);
    }
    for _ in 0..40 * scale.max(1) {
        let style = *r.pick(&[
            Style::Rust,
            Style::Python,
            Style::Js,
            Style::Yaml,
            Style::Log,
            Style::Env,
        ]);
        clean.filler(&mut r, style, 1);
    }
    files.push(clean);
    let mut binary = b64(&r.bytes(3000));
    binary.insert_str(0, "blob: ");
    let mut bin = FileBuilder::new("clean/binary-blob.yaml");
    bin.push(&binary);
    files.push(bin);

    let mut labels = Vec::new();
    for f in files {
        let path = root.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, f.text)?;
        labels.extend(f.labels);
    }
    labels.sort();
    Ok(labels)
}

/// Text that looks like a secret to a careless rule but is not one.
pub const NEAR_MISSES: &[&str] = &[
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "password: ${{ secrets.DB_PASSWORD }}",
    "password = \"${DB_PASSWORD}\"",
    "token: <your-token-here>",
    "api_key = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
    "GITHUB_TOKEN: ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "let token = tokens.next_token_from_the_stream();",
    "token_path: /var/run/secrets/kubernetes.io/serviceaccount/token",
    "secret_name: projects/acme/secrets/database-password/versions/latest",
    "commit: 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "https://user@example.com/path?token=",
    "postgres://postgres:postgres@localhost:5432/test",
    "Authorization: Bearer <token>",
    "Authorization: Bearer ${TOKEN}",
    "-----BEGIN PUBLIC KEY-----",
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo",
    "-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----",
    "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ",
    "-----END CERTIFICATE-----",
    "Put the -----BEGIN PRIVATE KEY----- block in the vault, never here.",
    "sk_live_ keys start with that prefix; test keys with sk_test_",
    "const SECRET_KEY_LENGTH: usize = 32;",
    "client_secret: !vault |",
    "eyJhbGciOiJub25lIn0 is the header of an unsigned token",
];
