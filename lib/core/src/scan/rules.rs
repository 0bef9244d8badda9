//! The secret shapes, one table. Each rule: a name (what findings and `--allow-secret`
//! messages say), a pattern (bytes regex; the `s` group, when present, is the secret itself,
//! else the whole match), how many of the secret's bytes a masked preview may show (the
//! public prefix plus two), a check that must also pass (entropy, placeholders) and a test
//! case: a made-up value in the rule's shape, built at run time from pieces so that no
//! whole token sits in this file for other scanners to trip on.
//!
//! Facts about which shapes exist come from the public rule sets of gitleaks, detect-secrets
//! and ripsecrets; patterns and tests are ours.

/// An extra test on the secret once the pattern matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The pattern is enough.
    None,
    /// The token's random part (after `prefix` bytes) must look random: not a placeholder,
    /// not one repeated character.
    Random { prefix: usize },
    /// A value assigned to a secret-looking name: long, random, not a placeholder, not an
    /// expression; plain hex only under a name that says token/secret/password/api key.
    Assigned,
}

/// One secret shape.
pub struct Rule {
    /// Its name in findings (`hf-token`).
    pub name: &'static str,
    /// The bytes regex.
    pub pattern: &'static str,
    /// Lower-case strings of which every match holds one (case aside): a file whose
    /// lower-cased text holds none is not searched with the regexes at all.
    pub needs: &'static [&'static str],
    /// How many leading bytes of the secret a preview shows.
    pub shown: usize,
    /// What else must hold.
    pub check: Check,
    /// A line the rule must find (built from pieces; see [`sample`]).
    pub sample: fn() -> String,
}

/// A made-up random-looking body of `n` characters from `alphabet`, the same every time.
pub fn body(seed: u64, n: usize, alphabet: &str) -> String {
    let a = alphabet.as_bytes();
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            a[(x % a.len() as u64) as usize] as char
        })
        .collect()
}

/// Alphabets for [`body`].
pub const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const UPPER_NUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub const HEX: &str = "0123456789abcdef";
pub const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A made-up token of a kind the corpus and tests name (`ghp`, `hf`, `aws-id`...): the
/// prefix joined to a generated body at run time.
pub fn sample(kind: &str) -> String {
    let j = |p: &[&str]| p.concat();
    match kind {
        "ghp" => j(&["gh", "p_", &body(1, 36, ALNUM)]),
        "gho" => j(&["gh", "o_", &body(2, 36, ALNUM)]),
        "ghs" => j(&["gh", "s_", &body(3, 36, ALNUM)]),
        "github-pat" => j(&[
            "github",
            "_pat_",
            &body(4, 22, ALNUM),
            "_",
            &body(5, 59, ALNUM),
        ]),
        "glpat" => j(&["gl", "pat-", &body(6, 20, ALNUM)]),
        "hf" => j(&["h", "f_", &body(7, 34, ALNUM)]),
        "openai" => j(&[
            "s",
            "k-",
            &body(8, 20, ALNUM),
            "T3Blbk",
            "FJ",
            &body(9, 20, ALNUM),
        ]),
        "openai-proj" => j(&[
            "s",
            "k-proj-",
            &body(10, 64, ALNUM),
            "T3Blbk",
            "FJ",
            &body(11, 64, ALNUM),
        ]),
        "anthropic" => j(&["s", "k-ant-api03-", &body(12, 93, ALNUM), "AA"]),
        "slack" => j(&[
            "xo",
            "xb-",
            &body(13, 11, "0123456789"),
            "-",
            &body(14, 12, "0123456789"),
            "-",
            &body(15, 24, ALNUM),
        ]),
        "stripe" => j(&["s", "k_live_", &body(16, 24, ALNUM)]),
        "pypi" => j(&["py", "pi-AgEIcHlwaS5vcmc", &body(17, 70, ALNUM)]),
        "npm" => j(&["n", "pm_", &body(18, 36, ALNUM)]),
        "modal-id" => j(&["a", "k-", &body(19, 22, ALNUM)]),
        "modal-secret" => j(&["a", "s-", &body(20, 22, ALNUM)]),
        "aws-id" => j(&["AK", "IA", &body(21, 16, UPPER_NUM)]),
        "aws-secret" => body(22, 40, B64),
        "azure" => j(&[&body(23, 86, B64), "=="]),
        "wandb" => body(24, 40, HEX),
        "gcp-key-id" => body(25, 40, HEX),
        "generic" => body(26, 32, ALNUM),
        "pem-body" => body(27, 64, B64),
        "putty" => j(&["PuTTY-User-", "Key-File-3"]),
        other => panic!("no sample kind {other:?}"),
    }
}

/// The PEM header of a private key of any kind, then (within a few header lines, real or
/// JSON-escaped newlines) key material.
const PEM: &str = r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[rn])+(?:[A-Za-z-]+: [^\r\n\\]{0,120}(?:\s|\\[rn])+){0,4}[A-Za-z0-9+/=]{40}";

/// Every rule, in the order findings name them.
pub static RULES: &[Rule] = &[
    Rule {
        name: "private-key",
        needs: &["private key"],
        pattern: PEM,
        shown: 11,
        check: Check::None,
        sample: || format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n", sample("pem-body")),
    },
    Rule {
        name: "putty-private-key",
        needs: &["putty-user-key-file-"],
        pattern: r"(?m)^PuTTY-User-Key-File-[23]: [a-z0-9-]+\r?$",
        shown: 20,
        check: Check::None,
        sample: || format!("{}: ssh-ed25519\nEncryption: none\n", sample("putty")),
    },
    Rule {
        name: "aws-access-key-id",
        needs: &["akia", "asia", "abia", "acca"],
        pattern: r"\b(?P<s>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        shown: 6,
        check: Check::Random { prefix: 4 },
        sample: || format!("aws_access_key_id = {}", sample("aws-id")),
    },
    Rule {
        name: "aws-secret-access-key",
        needs: &["aws"],
        pattern: r#"(?i:aws_?secret_?(?:access_?)?key)\\?["']?\s*(?::|=|=>)\s*\\?["']?(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        shown: 2,
        check: Check::Random { prefix: 0 },
        sample: || format!("aws_secret_access_key = {}", sample("aws-secret")),
    },
    Rule {
        name: "gcp-service-account",
        needs: &["private_key_id"],
        pattern: r#"\\?"private_key_id\\?"\s*:\s*\\?"(?P<s>[0-9a-f]{40})\\?""#,
        shown: 2,
        check: Check::None,
        sample: || format!(r#"  "private_key_id": "{}","#, sample("gcp-key-id")),
    },
    Rule {
        name: "azure-storage-key",
        needs: &["accountkey="],
        pattern: r"AccountKey=(?P<s>[A-Za-z0-9+/]{86}==)",
        shown: 2,
        check: Check::Random { prefix: 0 },
        sample: || {
            format!(
                "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={};EndpointSuffix=core.windows.net",
                sample("azure")
            )
        },
    },
    Rule {
        name: "github-token",
        needs: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"\b(?P<s>gh[pousr]_[A-Za-z0-9]{36})\b",
        shown: 6,
        check: Check::Random { prefix: 4 },
        sample: || format!("token = '{}'", sample("ghp")),
    },
    Rule {
        name: "github-fine-grained-token",
        needs: &["github_pat_"],
        pattern: r"\b(?P<s>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
        shown: 13,
        check: Check::Random { prefix: 11 },
        sample: || format!("GH={}", sample("github-pat")),
    },
    Rule {
        name: "gitlab-token",
        needs: &["glpat-"],
        pattern: r"\b(?P<s>glpat-[A-Za-z0-9_-]{20})(?:[^A-Za-z0-9_-]|$)",
        shown: 8,
        check: Check::Random { prefix: 6 },
        sample: || format!("CI_TOKEN: {}", sample("glpat")),
    },
    Rule {
        name: "huggingface-token",
        needs: &["hf_"],
        pattern: r"\b(?P<s>hf_[A-Za-z0-9]{34})\b",
        shown: 5,
        check: Check::Random { prefix: 3 },
        sample: || format!("login(token=\"{}\")", sample("hf")),
    },
    Rule {
        name: "openai-key",
        needs: &["t3blbkfj"],
        pattern: r"\b(?P<s>sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})",
        shown: 5,
        check: Check::Random { prefix: 3 },
        sample: || format!("openai.api_key = \"{}\"", sample("openai")),
    },
    Rule {
        name: "anthropic-key",
        needs: &["sk-ant-"],
        pattern: r"\b(?P<s>sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,})",
        shown: 9,
        check: Check::Random { prefix: 13 },
        sample: || format!("client = Anthropic(api_key=\"{}\")", sample("anthropic")),
    },
    Rule {
        name: "slack-token",
        needs: &["xox"],
        pattern: r"\b(?P<s>xox[abposr]-[0-9]{8,13}-[0-9A-Za-z-]{10,})",
        shown: 7,
        check: Check::Random { prefix: 5 },
        sample: || format!("SLACK={}", sample("slack")),
    },
    Rule {
        name: "stripe-live-key",
        needs: &["k_live_"],
        pattern: r"\b(?P<s>[rs]k_live_[A-Za-z0-9]{24,})",
        shown: 10,
        check: Check::Random { prefix: 8 },
        sample: || format!("stripe.api_key = '{}'", sample("stripe")),
    },
    Rule {
        name: "pypi-token",
        needs: &["pypi-ageichlwas5vcmc"],
        pattern: r"\b(?P<s>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})",
        shown: 7,
        check: Check::None,
        sample: || format!("password = {}", sample("pypi")),
    },
    Rule {
        name: "npm-token",
        needs: &["npm_"],
        pattern: r"\b(?P<s>npm_[A-Za-z0-9]{36})\b",
        shown: 6,
        check: Check::Random { prefix: 4 },
        sample: || format!("//registry.npmjs.org/:_authToken={}", sample("npm")),
    },
    Rule {
        name: "modal-token",
        needs: &["ak-", "as-"],
        pattern: r"(?m)(?:^|[^A-Za-z0-9_-])(?P<s>a[ks]-[A-Za-z0-9]{22})\b",
        shown: 5,
        check: Check::Random { prefix: 3 },
        sample: || format!("modal token set --token-id {}", sample("modal-id")),
    },
    Rule {
        name: "wandb-netrc",
        needs: &["api.wandb.ai"],
        pattern: r"machine\s+api\.wandb\.ai\s+(?:login\s+\S+\s+)?password\s+(?P<s>[0-9a-f]{40})\b",
        shown: 2,
        check: Check::None,
        sample: || {
            format!(
                "machine api.wandb.ai\n  login user\n  password {}\n",
                sample("wandb")
            )
        },
    },
    Rule {
        name: "wandb-login",
        needs: &["wandb"],
        pattern: r"wandb\s+login\s+(?:--?[a-z-]+(?:[= ][^\s-]\S*)?\s+)*(?P<s>[0-9a-f]{40})\b",
        shown: 2,
        check: Check::None,
        sample: || format!("!wandb login {}", sample("wandb")),
    },
    Rule {
        name: "secret-assignment",
        needs: &[
            "token", "secret", "_key", "-key", "apikey", "_pat", "_pwd", "passw",
        ],
        pattern: concat!(
            r#"(?P<n>(?i:[A-Za-z0-9_.-]*(?:token|secret|[_-]key|apikey|_pat|_pwd|passw(?:or)?d[A-Za-z0-9_]*)s?))"#,
            r#"\\?["']?\]?\s*(?::=|=>|:|=)\s*(?:[a-z]?\\?["'])?"#,
            r#"(?P<s>[A-Za-z0-9+/_.~=-]{16,200})(?:\\?["'`\s,;})\]]|\\n|$)"#
        ),
        shown: 2,
        check: Check::Assigned,
        sample: || format!("HF_TOKEN = \"{}\"", sample("generic")),
    },
];
