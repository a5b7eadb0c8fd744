// Package aptrepo reads a signed Debian-style repository (Debian, Ubuntu):
// a suite's InRelease, verified against the distribution's archive
// keyring; its Packages indexes, verified against the hashes InRelease
// lists; and the .deb files, verified against the SHA256 and size their
// index gives. Nothing unverified is ever returned to the caller.
package aptrepo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"

	"github.com/layerscan/layerscan/shared/deb"
)

// Limits on what a repository may send: InRelease files are tens of
// kilobytes, the largest Packages index (Debian main, amd64) is about
// 50 MB unpacked, and .debs are capped by the size their index gives.
const (
	MaxInRelease  = 4 << 20
	MaxIndex      = 256 << 20
	MaxPackageDeb = 1 << 30
)

// ErrUnverified marks repository data that failed a signature or
// checksum check: it is never used.
var ErrUnverified = errors.New("repository data failed verification")

// Suite is one suite of a mirror: URL is the archive root
// (http://deb.debian.org/debian), Name the suite (bookworm-security).
type Suite struct {
	URL        string   `json:"url"`
	Name       string   `json:"suite"`
	Components []string `json:"components,omitempty"`
}

func (s Suite) String() string { return strings.TrimSuffix(s.URL, "/") + " " + s.Name }

// Mirror says where a distribution's packages come from: its suites
// (names may hold {codename}) and the keyring their InRelease must be
// signed by, a keyring file or an armored key block.
type Mirror struct {
	Suites         []Suite `json:"suites"`
	Keyring        string  `json:"keyring,omitempty"`
	KeyringArmored string  `json:"keyringArmored,omitempty"`
	// AllowPrivate lets the suites' hosts resolve to private or loopback
	// addresses (a mirror inside the VPC).
	AllowPrivate bool `json:"allowPrivate,omitempty"`
}

// KeyringDirs are where a keyring file may be read from: the directories
// the keyring packages install into. A setting cannot name another file.
var KeyringDirs = []string{"/usr/share/keyrings/", "/etc/apt/trusted.gpg.d/", "/etc/apt/keyrings/"}

// Validate checks a mirror's fields.
func (m Mirror) Validate() error {
	if len(m.Suites) == 0 || len(m.Suites) > 16 {
		return fmt.Errorf("suites: 1 to 16 suites")
	}
	for i, s := range m.Suites {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("suites[%d].url: %q is not an http(s) archive root", i, s.URL)
		}
		if s.Name == "" || strings.ContainsAny(s.Name, `/\ `) || strings.Contains(s.Name, "..") {
			return fmt.Errorf("suites[%d].suite: %q is not a suite name", i, s.Name)
		}
		for j, c := range s.Components {
			if c == "" || strings.ContainsAny(c, `/\ `) || strings.Contains(c, "..") {
				return fmt.Errorf("suites[%d].components[%d]: %q is not a component", i, j, c)
			}
		}
	}
	switch {
	case m.Keyring != "" && m.KeyringArmored != "":
		return fmt.Errorf("keyring: give a file or an armored key, not both")
	case m.KeyringArmored != "":
		if len(m.KeyringArmored) > 1<<20 || !strings.HasPrefix(strings.TrimSpace(m.KeyringArmored), "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
			return fmt.Errorf("keyringArmored: not an armored public key block (at most 1 MiB)")
		}
	case m.Keyring != "":
		if !keyringPathOK(m.Keyring) {
			return fmt.Errorf("keyring: %q is not a file under %s", m.Keyring, strings.Join(KeyringDirs, ", "))
		}
	default:
		return fmt.Errorf("keyring: a keyring file or an armored key is needed")
	}
	return nil
}

func keyringPathOK(p string) bool {
	if strings.Contains(p, "..") {
		return false
	}
	for _, d := range KeyringDirs {
		if strings.HasPrefix(p, d) && len(p) > len(d) {
			return true
		}
	}
	return false
}

// ReadKeyring reads the mirror's keyring.
func (m Mirror) ReadKeyring() (openpgp.EntityList, error) {
	if m.KeyringArmored != "" {
		kr, err := openpgp.ReadArmoredKeyRing(strings.NewReader(m.KeyringArmored))
		if err != nil {
			return nil, fmt.Errorf("keyringArmored: %w", err)
		}
		return kr, nil
	}
	if !keyringPathOK(m.Keyring) {
		return nil, fmt.Errorf("keyring %q is not under %s", m.Keyring, strings.Join(KeyringDirs, ", "))
	}
	return ReadKeyring(m.Keyring)
}

// Client fetches and verifies repository data.
type Client struct {
	HTTP    *http.Client
	Keyring openpgp.EntityList
	Now     func() time.Time
	// Dir, when set, keeps the verified indexes a Packages call downloads,
	// by their SHA256, so that a second call over the same suites (for
	// packages a relation named) reads them again instead of downloading
	// them again. The caller removes it.
	Dir string
}

// index opens the verified index file at u: kept in Dir from an earlier
// call, else downloaded (into Dir, or a temporary file) and checked.
func (c *Client) index(ctx context.Context, u string, sum fileSum) (*os.File, error) {
	if c.Dir != "" {
		if f, err := os.Open(filepath.Join(c.Dir, sum.sum)); err == nil {
			return f, nil // named by the hash it was verified against
		}
	}
	dir := c.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "index-*")
	if err != nil {
		return nil, err
	}
	err = c.Download(ctx, u, sum.sum, sum.size, f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err == nil && c.Dir != "" {
		err = os.Rename(f.Name(), filepath.Join(c.Dir, sum.sum))
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// ReadKeyring reads an OpenPGP keyring file, binary (/usr/share/keyrings/
// *.gpg, as the keyring packages ship them) or ASCII-armored.
func ReadKeyring(path string) (openpgp.EntityList, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	var kr openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN PGP")) {
		kr, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	} else {
		kr, err = openpgp.ReadKeyRing(bytes.NewReader(b))
	}
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	if len(kr) == 0 {
		return nil, fmt.Errorf("keyring %s holds no key", path)
	}
	return kr, nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Release is a verified InRelease.
type Release struct {
	Suite    Suite
	Fields   deb.Paragraph
	SignedBy string
	// sha256 maps a file's path under the suite to its hash and size.
	sha256 map[string]fileSum
}

type fileSum struct {
	sum  string
	size int64
}

// Release fetches and verifies a suite's InRelease: the signature against
// the keyring, the suite name against the one asked for (a validly signed
// file of another suite is a substitution), and Valid-Until against the
// clock (an old signed file is a replay that hides newer fixes).
func (c *Client) Release(ctx context.Context, s Suite) (*Release, error) {
	u := strings.TrimSuffix(s.URL, "/") + "/dists/" + s.Name + "/InRelease"
	b, err := c.get(ctx, u, MaxInRelease)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(b, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, fmt.Errorf("%w: %s is not a clear-signed message", ErrUnverified, u)
	}
	block, rest := clearsign.Decode(b)
	if block == nil || len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: %s: malformed or trailing data after the signature", ErrUnverified, u)
	}
	signer, err := block.VerifySignature(c.Keyring, &packet.Config{Time: c.now})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: signature: %v", ErrUnverified, u, err)
	}
	fields, err := deb.ParseParagraph(block.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if fields.Get("Codename") != s.Name && fields.Get("Suite") != s.Name {
		return nil, fmt.Errorf("%w: %s is signed for suite %q (codename %q), not %q", ErrUnverified, u, fields.Get("Suite"), fields.Get("Codename"), s.Name)
	}
	if vu := fields.Get("Valid-Until"); vu != "" {
		t, err := parseDate(vu)
		if err != nil {
			return nil, fmt.Errorf("%s: Valid-Until %q: %w", u, vu, err)
		}
		if c.now().After(t) {
			return nil, fmt.Errorf("%w: %s expired at %s (Valid-Until)", ErrUnverified, u, t.Format(time.RFC3339))
		}
	}
	r := &Release{Suite: s, Fields: fields, sha256: map[string]fileSum{}}
	for id := range signer.Identities {
		r.SignedBy = id
		break
	}
	for _, l := range strings.Split(fields.Get("SHA256"), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		r.sha256[f[2]] = fileSum{strings.ToLower(f[0]), n}
	}
	if len(r.sha256) == 0 {
		return nil, fmt.Errorf("%w: %s lists no SHA256 hashes", ErrUnverified, u)
	}
	return r, nil
}

func parseDate(s string) (time.Time, error) {
	for _, f := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(f, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not an RFC 2822 date")
}

// Components lists the suite's components to read: those asked for, else
// main.
func (r *Release) components() []string {
	if len(r.Suite.Components) > 0 {
		return r.Suite.Components
	}
	return []string{"main"}
}

// Candidate is one version of a binary package a suite offers.
type Candidate struct {
	Control deb.Paragraph
	Suite   Suite
	// Component the index it came from belongs to.
	Component string
}

// Name, Version and Architecture of the candidate.
func (c Candidate) Name() string    { return c.Control.Get("Package") }
func (c Candidate) Version() string { return c.Control.Get("Version") }
func (c Candidate) Arch() string    { return c.Control.Get("Architecture") }

// Origin says where the candidate comes from, for task logs.
func (c Candidate) Origin() string { return c.Suite.String() + "/" + c.Component }

// Packages streams the suite's binary index for arch (and "all" packages,
// which it lists too) and returns the paragraphs want keeps. The index is
// checked against InRelease's hash before any paragraph is returned.
func (c *Client) Packages(ctx context.Context, r *Release, arch string, want func(name string) bool) ([]Candidate, error) {
	var out []Candidate
	for _, comp := range r.components() {
		base := comp + "/binary-" + arch + "/Packages"
		var name string
		var sum fileSum
		// gzip first: its 32 KiB window decodes fast in little memory, where
		// xz's dictionary (up to 64 MiB) and decoder cost seconds and most
		// of a fix's heap; xz when there is no gzip (Debian security).
		for _, ext := range []string{".gz", ".xz", ""} {
			if s, ok := r.sha256[base+ext]; ok {
				name, sum = base+ext, s
				break
			}
		}
		if name == "" {
			return nil, fmt.Errorf("%s: InRelease lists no %s index", r.Suite, base)
		}
		u := strings.TrimSuffix(r.Suite.URL, "/") + "/dists/" + r.Suite.Name + "/" + name
		if sum.size > MaxIndex {
			return nil, fmt.Errorf("%s: %d bytes, more than %d", u, sum.size, MaxIndex)
		}
		f, err := c.index(ctx, u, sum)
		if err != nil {
			return nil, err
		}
		out, err = readIndex(f, name, r.Suite, comp, want, out)
		f.Close()
		if c.Dir == "" {
			os.Remove(f.Name())
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readIndex(f io.Reader, name string, s Suite, comp string, want func(string) bool, out []Candidate) ([]Candidate, error) {
	// The decompressors read a byte at a time: unbuffered, every byte of
	// a 9 MB index was a read(2).
	var rd io.Reader = bufio.NewReaderSize(f, 1<<20)
	f = rd
	switch {
	case strings.HasSuffix(name, ".xz"):
		z, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rd = z
	case strings.HasSuffix(name, ".gz"):
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer z.Close()
		rd = z
	}
	err := wantedParagraphs(io.LimitReader(rd, MaxIndex), want, func(p deb.Paragraph) {
		out = append(out, Candidate{Control: p, Suite: s, Component: comp})
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", s, name, err)
	}
	return out, nil
}

// wantedParagraphs parses only the paragraphs whose Package field want
// keeps: an index has tens of thousands, a fix wants a few hundred, and
// parsing every field of every one was most of a fix's time and garbage.
func wantedParagraphs(r io.Reader, want func(string) bool, keep func(deb.Paragraph)) error {
	br := bufio.NewReaderSize(r, deb.MaxLine)
	var para bytes.Buffer
	skipping, started := false, false
	flush := func() error {
		if para.Len() > 0 && !skipping {
			p, err := deb.ParseParagraph(para.Bytes())
			if err != nil {
				return err
			}
			if want(p.Get("Package")) { // a continuation line may have changed it
				keep(p)
			}
		}
		para.Reset()
		skipping, started = false, false
		return nil
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if !skipping {
				return fmt.Errorf("index line longer than %d bytes", br.Size())
			}
			continue // the rest of a long line of a paragraph not kept
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if ferr := flush(); ferr != nil {
				return ferr
			}
		} else if !skipping {
			if !started {
				started = true
				// Indexes start each paragraph with its Package field; one
				// that does not is not a package a fix could want.
				name, ok := bytes.CutPrefix(line, []byte("Package:"))
				if !ok || !want(string(bytes.TrimSpace(name))) {
					skipping = true
					continue
				}
			}
			para.Write(line)
			if para.Len() > deb.MaxLine {
				return fmt.Errorf("index paragraph longer than %d bytes", deb.MaxLine)
			}
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return err
		}
	}
}

// Fetch downloads the candidate's .deb into w, checking its size and the
// SHA256 its index gives; on a mismatch w holds unverified bytes and the
// error says so: the caller must drop them.
func (c *Client) Fetch(ctx context.Context, cand Candidate, w io.Writer) error {
	fn := cand.Control.Get("Filename")
	if fn == "" || strings.Contains(fn, "..") || strings.HasPrefix(fn, "/") {
		return fmt.Errorf("%s %s: bad Filename %q", cand.Name(), cand.Version(), fn)
	}
	sum := strings.ToLower(cand.Control.Get("SHA256"))
	size, err := strconv.ParseInt(cand.Control.Get("Size"), 10, 64)
	if err != nil || size <= 0 || size > MaxPackageDeb || len(sum) != 64 {
		return fmt.Errorf("%w: %s %s: the index gives no usable Size and SHA256", ErrUnverified, cand.Name(), cand.Version())
	}
	return c.Download(ctx, strings.TrimSuffix(cand.Suite.URL, "/")+"/"+fn, sum, size, w)
}

// Download copies u into w, then checks its size and SHA256.
func (c *Client) Download(ctx context.Context, u, wantSum string, size int64, w io.Writer) error {
	body, err := c.open(ctx, u)
	if err != nil {
		return err
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(body, size+1))
	if err != nil {
		return fmt.Errorf("%s: %w", redact(u), err)
	}
	return verify(u, h, n, wantSum, size)
}

func verify(u string, h hash.Hash, n int64, wantSum string, size int64) error {
	if n != size {
		return fmt.Errorf("%w: %s is %d bytes, its index says %d", ErrUnverified, redact(u), n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSum {
		return fmt.Errorf("%w: %s has SHA256 %s, its index says %s", ErrUnverified, redact(u), got, wantSum)
	}
	return nil
}

func (c *Client) open(ctx context.Context, u string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("repository URL %q: %w", redact(u), err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", redact(u), resp.Status)
	}
	return resp.Body, nil
}

func (c *Client) get(ctx context.Context, u string, max int64) ([]byte, error) {
	body, err := c.open(ctx, u)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("GET %s: more than %d bytes", redact(u), max)
	}
	return b, nil
}

// redact drops a URL's user info and query (a mirror URL may carry a token).
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery = nil, ""
	return p.String()
}
