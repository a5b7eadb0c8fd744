// Package shared is the root of layerscan's Go packages; it holds no code.
//
// The design card asks for a top-level shared folder, so the packages live
// here: the steps (pipeline, janitor, updater), the ports and their adapters
// (source with registry, ocilayout and dockerarchive; store with its
// backends; dispatch; platform; event), the domain (layer, analyzer/…,
// secret, malware, yara, baseline, squash, advisory, match, buildcheck,
// whitelist, report, scanrecord, storekey, digest, redact, scan) and the suite the
// functions run. docs/architecture.md maps them.
//
// Do not confuse it with ../shared beside the repository: that folder holds
// the design card (../shared/DESIGN.md), the platform and peer docs, and
// the test corpus (advisory snapshots, real images and their ground truth).
// It is read by tests through LAYERSCAN_SHARED and never copied in.
package shared
