// Package analyzer defines the one small interface every file analyzer
// implements, and the Set that runs them over a layer walk.
package analyzer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/layerscan/layerscan/shared/layer"
	"github.com/layerscan/layerscan/shared/scan"
)

// Input is one file handed to an analyzer. Content holds the whole file
// (up to the set's per-file cap); it must not be modified, and it is only
// valid during Analyze: the set reuses the buffer for the next file, so an
// analyzer copies what it keeps (string(b) does).
type Input struct {
	Path     string
	Mode     fs.FileMode
	UID, GID int
	Size     int64
	Content  []byte
}

// Analyzer learns facts from files of one layer.
type Analyzer interface {
	// Name is stable; it becomes part of the analyzer-set version.
	Name() string
	// Version changes whenever the analyzer's output for the same input may change.
	Version() int
	// Wants is called for every regular file; it must be cheap (path tests only).
	Wants(path string, mode fs.FileMode) bool
	// Analyze returns the artifacts of one file. An error is recorded against
	// the file as an artifact error; it does not stop the layer.
	Analyze(ctx context.Context, in Input) ([]scan.Artifact, error)
}

// Fingerprinter is implemented by analyzers whose output also depends on
// data (a signature set): the fingerprint joins the analyzer-set version.
type Fingerprinter interface {
	Fingerprint() string
}

// Preparer is implemented by analyzers that load data before their first
// file (a signature set); an error fails the layer, which is not cached.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Set runs a fixed list of analyzers; its Version keys cached layer facts.
type Set struct {
	analyzers []Analyzer
	parts     string // the analyzers' names, versions and fingerprints
	// MaxFileBytes caps how much of one file is read for analysis; larger
	// files are skipped with a note. It changes the facts, so it is part of
	// Version.
	MaxFileBytes int64
	// Limits bound the layer walk (zero: layer.DefaultLimits); they decide
	// what is refused, so they are part of Version too.
	Limits layer.Limits
}

// MaxFindingsPerCheck caps the findings of one check in one layer: 200,000
// SUID files are one problem, not 200,000 rows and a gigabyte of memory.
// The rest are counted in a note of the layer's facts.
const MaxFindingsPerCheck = 100

// DefaultMaxFileBytes keeps per-file memory bounded while fitting real rpm databases.
const DefaultMaxFileBytes = 256 << 20

// NewSet builds a set; the order of analyzers does not matter.
func NewSet(as ...Analyzer) *Set {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		part := fmt.Sprintf("%s@%d", a.Name(), a.Version())
		if f, ok := a.(Fingerprinter); ok {
			part += "#" + f.Fingerprint()
		}
		parts = append(parts, part)
	}
	sort.Strings(parts)
	return &Set{analyzers: as, parts: strings.Join(parts, ","), MaxFileBytes: DefaultMaxFileBytes}
}

// Version identifies what the set makes of a layer: its analyzers, the
// facts schema and the caps that change the facts. Layer facts are cached
// per diffID and Version, so a changed analyzer or cap invalidates them.
func (s *Set) Version() string {
	lim := s.Limits
	if lim == (layer.Limits{}) {
		lim = layer.DefaultLimits
	}
	id := fmt.Sprintf("%s|%s|walk@%d|file<=%d|findings<=%d|layer<=%d,%d,%d", s.parts, scan.LayerFactsSchema, layer.Version, s.MaxFileBytes, MaxFindingsPerCheck, lim.MaxUncompressedBytes, lim.MaxEntries, lim.MaxPathLen)
	sum := sha256.Sum256([]byte(id))
	return "as-" + hex.EncodeToString(sum[:6])
}

// Analyze walks one layer blob and returns its facts. A non-nil error means
// the layer could not be analysed completely (corrupt, truncated, over a
// limit, digest mismatch); the facts are then incomplete and must not be cached.
func (s *Set) Analyze(ctx context.Context, blob io.Reader, digest, diffID string) (*scan.LayerFacts, error) {
	for _, a := range s.analyzers {
		if p, ok := a.(Preparer); ok {
			if err := p.Prepare(ctx); err != nil {
				return nil, fmt.Errorf("%s analyzer: %w", a.Name(), err)
			}
		}
	}
	facts := &scan.LayerFacts{Schema: scan.LayerFactsSchema, DiffID: diffID, Digest: digest, AnalyzerSet: s.Version()}
	var wanted []Analyzer
	var buf []byte // reused for every file: no per-file allocation and clearing
	kept, dropped := map[string]int{}, map[string]int{}
	res, err := layer.Walk(ctx, blob, layer.Expect{Digest: digest, DiffID: diffID}, s.Limits, func(e layer.Entry, r io.Reader) error {
		if e.Header.Typeflag != '0' && e.Header.Typeflag != 0 {
			return nil
		}
		mode := e.Header.FileInfo().Mode()
		wanted = wanted[:0]
		for _, a := range s.analyzers {
			if a.Wants(e.Path, mode) {
				wanted = append(wanted, a)
			}
		}
		if len(wanted) == 0 {
			return nil
		}
		if e.Header.Size > s.MaxFileBytes {
			facts.Notes = append(facts.Notes, fmt.Sprintf("skipped %s: %d bytes is over the %d-byte analysis cap", e.Path, e.Header.Size, s.MaxFileBytes))
			return nil
		}
		if int64(cap(buf)) < e.Header.Size {
			buf = make([]byte, e.Header.Size)
		}
		content := buf[:e.Header.Size]
		if _, err := io.ReadFull(r, content); err != nil {
			return err
		}
		facts.Stats.FilesAnalyzed++
		in := Input{Path: e.Path, Mode: mode, UID: e.Header.Uid, GID: e.Header.Gid, Size: e.Header.Size, Content: content}
		for _, a := range wanted {
			arts, err := safeAnalyze(ctx, a, in)
			if err != nil && transient(err) {
				return fmt.Errorf("%w: %s analyzer on %s: %w", ErrTransient, a.Name(), e.Path, err)
			}
			if err != nil {
				facts.Artifacts = append(facts.Artifacts, scan.Artifact{Path: e.Path, Kind: a.Name(), Error: err.Error()})
				continue
			}
			facts.Artifacts = append(facts.Artifacts, capFindings(arts, kept, dropped)...)
		}
		return nil
	})
	for id, n := range dropped {
		facts.Notes = append(facts.Notes, fmt.Sprintf("%d more %s findings in this layer are not listed (the first %d are)", n, id, MaxFindingsPerCheck))
	}
	sort.Strings(facts.Notes)
	if res != nil {
		facts.Whiteouts = res.Whiteouts
		facts.OpaqueDirs = res.OpaqueDirs
		facts.Stats.Entries = res.Entries
		facts.Stats.CompressedBytes = res.CompressedBytes
		facts.Stats.UncompressedBytes = res.UncompressedBytes
		if facts.Digest == "" && res.DigestHex != "" && err == nil {
			facts.Digest = "sha256:" + res.DigestHex // docker-save layers come without one
		}
		if res.UnsafeMore > 0 {
			facts.Notes = append(facts.Notes, fmt.Sprintf("%d more refused entries are not listed", res.UnsafeMore))
		}
		for _, u := range res.Unsafe {
			facts.Notes = append(facts.Notes, "refused entry: "+u)
			facts.Findings = append(facts.Findings, scan.Finding{
				Category: scan.Baseline, ID: "LS-LAYER-UNSAFE-PATH", Severity: scan.High,
				Title:       "Layer contains an entry whose path escapes the image root",
				Evidence:    u,
				LayerDiffID: diffID,
				Remediation: "Rebuild the layer with a standard tool; tar entries with '..' components can overwrite host files when extracted naively.",
			})
		}
	}
	if err != nil {
		return facts, fmt.Errorf("layer %s: %w", diffID, err)
	}
	return facts, nil
}

// capFindings keeps at most MaxFindingsPerCheck findings per check ID,
// counting the rest; an artifact left with nothing is dropped.
func capFindings(arts []scan.Artifact, kept, dropped map[string]int) []scan.Artifact {
	out := arts[:0]
	for _, a := range arts {
		if len(a.Findings) > 0 {
			fs := a.Findings[:0]
			for _, f := range a.Findings {
				if kept[f.ID] >= MaxFindingsPerCheck {
					dropped[f.ID]++
					continue
				}
				kept[f.ID]++
				fs = append(fs, f)
			}
			a.Findings = fs
			if len(fs) == 0 && len(a.Packages) == 0 && len(a.Fields) == 0 && len(a.Files) == 0 && a.Error == "" && a.Warning == "" {
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// ErrTransient marks a failure of the machine, not of the layer: no space
// left for a spool file, an I/O error, a deadline. Facts carrying one are
// never cached; the layer is retried.
var ErrTransient = errors.New("transient failure")

// transient reports whether err is the machine's failure.
func transient(err error) bool {
	return errors.Is(err, ErrTransient) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// safeAnalyze turns a panic in a parser of untrusted input into an error.
func safeAnalyze(ctx context.Context, a Analyzer, in Input) (arts []scan.Artifact, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s analyzer failed on %s: %v", a.Name(), in.Path, r)
		}
	}()
	return a.Analyze(ctx, in)
}
