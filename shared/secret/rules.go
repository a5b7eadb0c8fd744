package secret

import (
	"regexp"

	"github.com/layerscan/layerscan/shared/scan"
)

// Rule finds one kind of secret. Keywords are the prefilter: the regular
// expression runs only on files holding one of them (case-sensitive bytes,
// at least 4; list the spellings that occur). Group 1 of Pattern is the
// secret value.
type Rule struct {
	ID       string
	Title    string
	Severity scan.Severity
	Keywords []string
	Pattern  *regexp.Regexp
	// Companion, when it matches in the same file, raises the finding to
	// CompanionSeverity: an access key ID with its secret beside it.
	Companion         *regexp.Regexp
	CompanionSeverity scan.Severity
	CompanionTitle    string
	// MinEntropy (bits per character) rejects placeholder-looking values.
	MinEntropy float64
	Fix        string
}

// Rules are written for layerscan after reading gitleaks' rule set and
// osv-scalibr's veles detectors; the token shapes are the vendors' own.
var Rules = []Rule{
	{
		ID: "LS-SECRET-PRIVATE-KEY", Title: "Private key", Severity: scan.High,
		Keywords: []string{"PRIVATE KEY"},
		// The header alone is not a key: parsers mention it in strings. A
		// base64 line must follow.
		Pattern: regexp.MustCompile(`-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----\r?\n(?:[A-Za-z-]+: [^\n]*\r?\n)*(?:\r?\n)?([A-Za-z0-9+/=]{40,})`),
		Fix:     "Remove the key from the image (and from every layer: rebuild without it), revoke it, and mount keys at run time from a secret store.",
	},
	{
		ID: "LS-SECRET-ALIBABA-AK", Title: "Alibaba Cloud AccessKey ID", Severity: scan.High,
		Keywords:          []string{"LTAI"},
		Pattern:           regexp.MustCompile(`\b(LTAI[A-Za-z0-9]{12,20})\b`),
		Companion:         regexp.MustCompile(`(?i)secret[\w.\-"']*\s*[:=]\s*["']?([A-Za-z0-9]{30})\b`),
		CompanionSeverity: scan.Critical, CompanionTitle: "Alibaba Cloud AccessKey ID with its AccessKey secret",
		Fix: "Disable and delete the AccessKey in the RAM console, rebuild the image without it, and use a RAM role (STS) or KMS secrets at run time.",
	},
	{
		ID: "LS-SECRET-AWS-ACCESS-KEY", Title: "AWS access key ID", Severity: scan.High,
		Keywords:          []string{"AKIA", "ASIA"},
		Pattern:           regexp.MustCompile(`\b((?:AKIA|ASIA)[A-Z0-9]{16})\b`),
		Companion:         regexp.MustCompile(`(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})`),
		CompanionSeverity: scan.Critical, CompanionTitle: "AWS access key ID with its secret access key",
		Fix: "Deactivate the key in IAM, rebuild the image without it, and use an IAM role at run time.",
	},
	{
		ID: "LS-SECRET-GCP-SERVICE-ACCOUNT", Title: "Google Cloud service-account key", Severity: scan.Critical,
		Keywords: []string{"service_account"},
		Pattern:  regexp.MustCompile(`"type"\s*:\s*"(service_account)"(?s:.*)"private_key"\s*:\s*"-----BEGIN`),
		Fix:      "Delete the key in IAM, rebuild the image without it, and use workload identity.",
	},
	{
		ID: "LS-SECRET-AZURE-STORAGE-KEY", Title: "Azure storage account key", Severity: scan.Critical,
		Keywords: []string{"AccountKey="},
		Pattern:  regexp.MustCompile(`AccountName=[^;\s]+;\s*AccountKey=([A-Za-z0-9+/]{86}==)`),
		Fix:      "Rotate the storage account key, rebuild the image without it, and use a managed identity.",
	},
	{
		ID: "LS-SECRET-GITHUB-TOKEN", Title: "GitHub token", Severity: scan.High,
		Keywords: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
		Pattern:  regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b`),
		Fix:      "Revoke the token in GitHub settings and rebuild the image without it.",
	},
	{
		ID: "LS-SECRET-GITLAB-TOKEN", Title: "GitLab personal access token", Severity: scan.High,
		Keywords: []string{"glpat-"},
		Pattern:  regexp.MustCompile(`\b(glpat-[A-Za-z0-9_-]{20})\b`),
		Fix:      "Revoke the token in GitLab and rebuild the image without it.",
	},
	{
		ID: "LS-SECRET-NPM-TOKEN", Title: "npm access token", Severity: scan.High,
		Keywords: []string{"npm_", "_authToken"},
		Pattern:  regexp.MustCompile(`\b(npm_[A-Za-z0-9]{36})\b|_authToken\s*=\s*([^\s$][^\s]{7,})`),
		Fix:      "Revoke the token (npm token revoke) and pass it at build time as a secret mount, not a file in a layer.",
	},
	{
		ID: "LS-SECRET-DOCKER-AUTH", Title: "Registry credentials in a Docker config", Severity: scan.High,
		Keywords: []string{`"auth"`},
		Pattern:  regexp.MustCompile(`"auth"\s*:\s*"([A-Za-z0-9+/]{8,}={0,2})"`),
		Fix:      "Remove the Docker config from the image, change the registry password, and use a credential helper.",
	},
	{
		ID: "LS-SECRET-SLACK-TOKEN", Title: "Slack token or webhook", Severity: scan.Medium,
		Keywords: []string{"xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "hooks.slack.com"},
		Pattern:  regexp.MustCompile(`\b(xox[baprs]-[A-Za-z0-9-]{10,})|(https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+)`),
		Fix:      "Revoke the token or webhook in Slack and rebuild the image without it.",
	},
	{
		ID: "LS-SECRET-JWT-SECRET", Title: "JWT signing secret", Severity: scan.High,
		Keywords:   []string{"jwt_s", "jwt-s", "jwt.s", "jwtse", "jwt_k", "JWT_S", "JWT-S", "JWTSE", "JwtS"},
		Pattern:    regexp.MustCompile(`(?i)jwt[_.-]?secret(?:[_.-]?key)?["']?\s*[:=]\s*["']?([^\s"'$#{}]{8,})`),
		MinEntropy: 2.5,
		Fix:        "Rotate the signing secret (every issued token becomes forgeable) and read it from a secret store at run time.",
	},
}

// configFiles are application configs whose password-like keys are read
// (the generic rule is too noisy for arbitrary files).
var configFiles = map[string]bool{
	".env": true, "application.properties": true, "application.yml": true, "application.yaml": true,
	"bootstrap.yml": true, "bootstrap.yaml": true, "bootstrap.properties": true, "database.yml": true,
	"settings.py": true, "local_settings.py": true, "wp-config.php": true, "config.php": true, "config.inc.php": true,
	"my.cnf": true, ".my.cnf": true, "appsettings.json": true, "config.json": true, "credentials": true,
	"config.yml": true, "config.yaml": true, "secrets.yml": true, "secrets.yaml": true,
	"docker-compose.yml": true, "docker-compose.yaml": true, "redis.conf": true,
}

var (
	// key = value, key: value, 'KEY': 'value', define('DB_PASSWORD', 'value')
	configLineRe  = regexp.MustCompile(`(?i)(?:^|[\s{,(])(?:define\(\s*)?["']?([\w.\-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\w.\-]*)["']?\s*(?:[:=]|,)\s*["']?([^"'\s#;,)}]+)|^\s*(requirepass)\s+(\S+)`)
	placeholderRe = regexp.MustCompile(`(?i)^(?:\$\{.*\}?|\$\(.*|\$[A-Z_]+|%\(.*|<.*>|\{\{.*|null|none|nil|true|false|\*+|x+|changeit|your[_-].*|.*example.*|os\.environ.*|env\(.*|getenv.*|process\.env.*|enc\(.*|required|optional|string|str)$`)
)

// credentialFiles hold credentials by their nature; they are reported when
// not empty even if no rule matches their content.
var credentialFiles = map[string]string{
	".git-credentials": "Git credential store", ".netrc": "netrc credentials", ".pgpass": "PostgreSQL password file",
	".htpasswd": "htpasswd password file", ".s3cfg": "s3cmd credentials", ".boto": "boto credentials",
	".dockercfg": "legacy Docker registry credentials",
}

// keystoreExts are binary key stores, reported by name.
var keystoreExts = map[string]bool{".jks": true, ".keystore": true, ".p12": true, ".pfx": true}
