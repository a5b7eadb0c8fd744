package baseline

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/layerscan/layerscan/shared/scan"
)

type sshdRule struct {
	key, bad, id string
	sev          scan.Severity
	title, fix   string
}

var sshdRules = []sshdRule{
	{"permitrootlogin", "yes", "LS-BASELINE-SSH-ROOT-LOGIN", scan.High, "sshd permits root login with a password", "Set PermitRootLogin no (or prohibit-password)."},
	{"passwordauthentication", "yes", "LS-BASELINE-SSH-PASSWORD-AUTH", scan.Medium, "sshd accepts password authentication", "Set PasswordAuthentication no and use keys."},
	{"permitemptypasswords", "yes", "LS-BASELINE-SSH-EMPTY-PASSWORDS", scan.High, "sshd accepts empty passwords", "Set PermitEmptyPasswords no."},
	{"x11forwarding", "yes", "LS-BASELINE-SSH-X11", scan.Low, "sshd allows X11 forwarding", "Set X11Forwarding no."},
}

// CheckSSHD reads sshd_config the way sshd does: keywords are
// case-insensitive, the first value wins, and Match blocks are conditional
// (not read here).
func CheckSSHD(b []byte) []scan.Finding {
	seen := map[string]bool{}
	var out []scan.Finding
	for _, l := range lines(b) {
		fields := strings.Fields(strings.Replace(l.text, "=", " ", 1))
		if len(fields) < 2 {
			continue
		}
		key := strings.ToLower(fields[0])
		if key == "match" {
			break
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		for _, r := range sshdRules {
			if key == r.key && strings.EqualFold(fields[1], r.bad) {
				out = append(out, finding(r.id, r.sev, r.title, lineEvidence(l.n, l.text), r.fix))
			}
		}
	}
	return out
}

// CheckSudoers reports rules that give every command without a password.
func CheckSudoers(b []byte) []scan.Finding {
	var out []scan.Finding
	for _, l := range lines(b) {
		if strings.HasPrefix(l.text, "Defaults") || strings.HasPrefix(l.text, "@") || !strings.Contains(l.text, "NOPASSWD") {
			continue
		}
		_, cmds, ok := strings.Cut(l.text, "NOPASSWD")
		if !ok {
			continue
		}
		cmds = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(cmds), ":"))
		if cmds == "ALL" || strings.HasPrefix(cmds, "ALL,") || strings.HasPrefix(cmds, "ALL ") {
			out = append(out, finding("LS-BASELINE-SUDO-NOPASSWD", scan.High,
				"sudo grants every command without a password",
				lineEvidence(l.n, l.text),
				"Require a password, or limit NOPASSWD to the exact commands needed."))
		}
	}
	return out
}

// usualSpecial are the SUID/SGID programs of standard distributions.
var usualSpecial = map[string]bool{}

func init() {
	for _, p := range []string{
		"bin/su", "bin/mount", "bin/umount", "bin/ping", "bin/ping6", "bin/fusermount", "bin/fusermount3",
		"usr/bin/su", "usr/bin/mount", "usr/bin/umount", "usr/bin/passwd", "usr/bin/chfn", "usr/bin/chsh",
		"usr/bin/gpasswd", "usr/bin/newgrp", "usr/bin/sudo", "usr/bin/sudoedit", "usr/bin/pkexec", "usr/bin/chage",
		"usr/bin/expiry", "usr/bin/crontab", "usr/bin/wall", "usr/bin/write", "usr/bin/ssh-agent", "usr/bin/at",
		"usr/bin/ping", "usr/bin/fusermount", "usr/bin/fusermount3", "usr/bin/newuidmap", "usr/bin/newgidmap",
		"usr/bin/bsd-write", "usr/bin/dotlockfile", "usr/bin/mlocate", "usr/bin/plocate", "usr/bin/staprun",
		"sbin/unix_chkpwd", "usr/sbin/unix_chkpwd", "sbin/pam_extrausers_chkpwd", "usr/sbin/pam_extrausers_chkpwd", "usr/sbin/pam_timestamp_check", "usr/sbin/userhelper",
		"usr/sbin/mount.nfs", "usr/lib/openssh/ssh-keysign", "usr/libexec/openssh/ssh-keysign",
		"usr/lib/dbus-1.0/dbus-daemon-launch-helper", "usr/libexec/dbus-1/dbus-daemon-launch-helper",
		"usr/lib/policykit-1/polkit-agent-helper-1", "usr/lib/polkit-1/polkit-agent-helper-1",
		"usr/libexec/polkit-agent-helper-1", "bin/bbsuid", "usr/sbin/exim4", "usr/lib/eject/dmcrypt-get-device",
	} {
		usualSpecial[p] = true
	}
}

var tempDirs = []string{"tmp/", "var/tmp/", "dev/shm/", "run/lock/", "var/lock/"}

// CheckMode reports SUID/SGID files outside the usual set, any that are
// world-writable, and world-writable files outside temporary directories.
func CheckMode(p string, mode fs.FileMode, uid int) []scan.Finding {
	perm := fmt.Sprintf("%04o", unixMode(mode))
	owner := fmt.Sprintf("uid %d", uid)
	switch {
	case mode&special != 0 && mode&0o002 != 0:
		return []scan.Finding{finding("LS-BASELINE-SUID-WRITABLE", scan.Critical,
			"A SUID/SGID file is world-writable: anyone can replace what runs with its owner's privileges",
			"mode "+perm+", "+owner,
			"chmod o-w and remove the SUID/SGID bit unless the program needs it.", "CIS-DI-0008")}
	case mode&special != 0 && !usualSpecial[p]:
		return []scan.Finding{finding("LS-BASELINE-SUID", scan.Medium,
			"SUID/SGID file outside the usual set",
			"mode "+perm+", "+owner,
			"Remove the SUID/SGID bit (chmod u-s,g-s) unless the program needs it.", "CIS-DI-0008")}
	case mode&0o002 != 0:
		for _, d := range tempDirs {
			if strings.HasPrefix(p, d) {
				return nil
			}
		}
		return []scan.Finding{finding("LS-BASELINE-WORLD-WRITABLE", scan.Medium,
			"World-writable file outside temporary directories",
			"mode "+perm+", "+owner,
			"chmod o-w: any process in the container can change it.")}
	}
	return nil
}

// unixMode turns Go's file mode into the octal mode ls would show.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}
