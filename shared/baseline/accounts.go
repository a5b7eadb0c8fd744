package baseline

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/md5_crypt"    // $1$
	_ "github.com/GehirnInc/crypt/sha256_crypt" // $5$
	_ "github.com/GehirnInc/crypt/sha512_crypt" // $6$

	"github.com/layerscan/layerscan/shared/redact"
	"github.com/layerscan/layerscan/shared/scan"
)

// WeakPasswords are tried against every crypt hash of /etc/shadow (and the
// account's own name). Short on purpose: each try costs a full crypt.
var WeakPasswords = []string{
	"password", "123456", "12345678", "123456789", "root", "toor", "admin", "administrator",
	"changeme", "letmein", "qwerty", "passw0rd", "Password1", "P@ssw0rd", "default",
	"alpine", "debian", "ubuntu", "centos", "test", "guest", "user", "1234", "12345",
}

// maxRounds bounds the cost of one SHA-crypt try: a hostile shadow file
// could ask for a billion rounds.
const maxRounds = 100000

// CheckShadow reports empty passwords, weak hash algorithms and hashes of
// well-known weak passwords. Locked accounts ("*", "!…") are fine.
func CheckShadow(ctx context.Context, b []byte) []scan.Finding {
	var out []scan.Finding
	for _, l := range lines(b) {
		f := strings.Split(l.text, ":")
		if len(f) < 2 || f[0] == "" {
			continue
		}
		user, hash := f[0], f[1]
		switch {
		case hash == "":
			sev := scan.High
			if user == "root" {
				sev = scan.Critical
			}
			out = append(out, finding("LS-BASELINE-EMPTY-PASSWORD", sev,
				fmt.Sprintf("Account %s has an empty password", user),
				lineEvidence(l.n, user+"::…"),
				fmt.Sprintf("Lock the account (passwd -l %s) or set a password; an empty %s password in a base image is the CVE-2019-5021 condition of Alpine's official images.", user, user),
				"DKL-LI-0001"))
			continue
		case strings.HasPrefix(hash, "!") || strings.HasPrefix(hash, "*"):
			continue
		}
		algo := hashAlgo(hash)
		switch algo {
		case "DES", "MD5":
			sev := scan.Medium
			if algo == "DES" {
				sev = scan.High
			}
			out = append(out, finding("LS-BASELINE-WEAK-HASH", sev,
				fmt.Sprintf("Account %s uses the weak %s password hash", user, algo),
				lineEvidence(l.n, user+":"+redact.Mask(hash)),
				"Rehash with SHA-512 or yescrypt (set ENCRYPT_METHOD in /etc/login.defs, then passwd), or lock the account."))
		}
		if ctx.Err() != nil {
			return out
		}
		if pw, ok := weakPassword(hash, user); ok {
			sev := scan.High
			if user == "root" {
				sev = scan.Critical
			}
			out = append(out, finding("LS-BASELINE-WEAK-PASSWORD", sev,
				fmt.Sprintf("Account %s has a well-known weak password", user),
				lineEvidence(l.n, fmt.Sprintf("%s: the hash matches %q", user, redact.Mask(pw))),
				fmt.Sprintf("Set a strong password for %s or lock the account (passwd -l %s).", user, user)))
		}
	}
	return out
}

func hashAlgo(h string) string {
	switch {
	case strings.HasPrefix(h, "$1$"):
		return "MD5"
	case strings.HasPrefix(h, "$5$"):
		return "SHA-256"
	case strings.HasPrefix(h, "$6$"):
		return "SHA-512"
	case strings.HasPrefix(h, "$y$"), strings.HasPrefix(h, "$7$"):
		return "yescrypt"
	case strings.HasPrefix(h, "$2"):
		return "bcrypt"
	case len(h) == 13 && !strings.HasPrefix(h, "$"):
		return "DES"
	}
	return "unknown"
}

// weakPassword tries the weak list on MD5- and SHA-crypt hashes.
func weakPassword(hash, user string) (string, bool) {
	var c crypt.Crypter
	switch hashAlgo(hash) {
	case "MD5":
		c = crypt.MD5.New()
	case "SHA-256":
		c = crypt.SHA256.New()
	case "SHA-512":
		c = crypt.SHA512.New()
	default:
		return "", false // DES is reported as a weak hash already; yescrypt and bcrypt are not tried
	}
	if r, ok := strings.CutPrefix(hash[3:], "rounds="); ok {
		n, err := strconv.Atoi(strings.SplitN(r, "$", 2)[0])
		if err != nil || n > maxRounds {
			return "", false
		}
	}
	for _, pw := range append([]string{user}, WeakPasswords...) {
		if c.Verify(hash, []byte(pw)) == nil {
			return pw, true
		}
	}
	return "", false
}

// CheckPasswd reports extra UID 0 accounts, duplicate UIDs and accounts
// with an empty password field (no password at all).
func CheckPasswd(b []byte) []scan.Finding {
	var out []scan.Finding
	byUID := map[string][]string{}
	var order []string
	for _, l := range lines(b) {
		f := strings.Split(l.text, ":")
		if len(f) < 4 || f[0] == "" || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
			continue
		}
		user, pw, uid := f[0], f[1], f[2]
		if uid == "0" && user != "root" {
			out = append(out, finding("LS-BASELINE-UID0", scan.High,
				fmt.Sprintf("Account %s has UID 0 (root's privileges)", user),
				lineEvidence(l.n, user+":…:0:"+f[3]),
				fmt.Sprintf("Give %s its own UID or remove it; only root should have UID 0.", user)))
		}
		if pw == "" {
			out = append(out, finding("LS-BASELINE-EMPTY-PASSWORD", scan.High,
				fmt.Sprintf("Account %s has no password in /etc/passwd", user),
				lineEvidence(l.n, user+"::"+uid+":…"),
				fmt.Sprintf("Put x in the password field and lock %s in /etc/shadow.", user), "DKL-LI-0001"))
		}
		if _, ok := byUID[uid]; !ok {
			order = append(order, uid)
		}
		byUID[uid] = append(byUID[uid], user)
	}
	for _, uid := range order {
		if users := byUID[uid]; len(users) > 1 {
			out = append(out, finding("LS-BASELINE-DUPLICATE-UID", scan.Medium,
				fmt.Sprintf("UID %s is shared by %s", uid, strings.Join(users, ", ")),
				"uid "+uid+": "+strings.Join(users, ", "),
				"Give every account its own UID: files and processes of one are the other's.", "DKL-LI-0002"))
		}
	}
	return out
}

// CheckGroup reports duplicate GIDs.
func CheckGroup(b []byte) []scan.Finding {
	var out []scan.Finding
	byGID := map[string][]string{}
	var order []string
	for _, l := range lines(b) {
		f := strings.Split(l.text, ":")
		if len(f) < 3 || f[0] == "" {
			continue
		}
		if _, ok := byGID[f[2]]; !ok {
			order = append(order, f[2])
		}
		byGID[f[2]] = append(byGID[f[2]], f[0])
	}
	for _, gid := range order {
		if gs := byGID[gid]; len(gs) > 1 {
			out = append(out, finding("LS-BASELINE-DUPLICATE-GID", scan.Low,
				fmt.Sprintf("GID %s is shared by %s", gid, strings.Join(gs, ", ")),
				"gid "+gid+": "+strings.Join(gs, ", "),
				"Give every group its own GID.", "DKL-LI-0002"))
		}
	}
	return out
}
