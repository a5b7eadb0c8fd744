// Package storekey is the storage layout: every key layerscan reads or
// writes in its object store is built here, and nowhere else. The layout is
// the one ../shared/DESIGN.md documents; docs/architecture.md lists who
// writes and who reads each prefix.
//
// Everything is content-addressed or create-once, so retried and duplicated
// invocations are harmless: layer facts by diffID and analyzer-set version,
// reports by manifest digest and advisory-DB version, fan-in markers and
// claims created once.
package storekey

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Prefixes of the layout's top-level areas.
const (
	LayersPrefix        = "layers/"
	ImagesPrefix        = "images/"
	ReportsPrefix       = "reports/"
	ScansPrefix         = "scans/"
	QueuePrefix         = "queue/"
	AdvisoriesPrefix    = "advisories/"
	SignaturesPrefix    = "signatures/"
	PolicyPrefix        = "policy/"
	ConfigPrefix        = "config/"
	TasksPrefix         = "tasks/"
	NotificationsPrefix = "notifications/"
	FixesPrefix         = "fixes/"
)

// Facts is the analysed content of one layer under one analyzer-set version.
func Facts(diffID, analyzerSet string) string {
	return LayersPrefix + diffID + "/" + analyzerSet + ".json.zst"
}

// ImageConfig is an image's config blob, as the registry served it.
func ImageConfig(digest string) string { return ImagesPrefix + digest + "/config.json" }

// noDB names the reports built while no advisory DB was published.
const noDB = "no-advisory-db"

// Report is the report of an image against one advisory-DB version.
func Report(digest, dbVersion string) string {
	if dbVersion == "" {
		dbVersion = noDB
	}
	return ReportsPrefix + digest + "/" + dbVersion + ".json"
}

// ReportVariant is the report of an image built from inputs only its own
// request carried (a Dockerfile, whitelist rules): kept beside the shared
// report, never in its place, so one caller cannot change what others see.
func ReportVariant(digest, dbVersion, variant string) string {
	if dbVersion == "" {
		dbVersion = noDB
	}
	return ReportsPrefix + digest + "/" + dbVersion + "/" + variant + ".json"
}

// Scan is the prefix of everything one scan records.
func Scan(id string) string { return ScansPrefix + id + "/" }

// ScanState is scans/<id>/state.json, written once when the scan is planned.
func ScanState(id string) string { return Scan(id) + "state.json" }

// DonePrefix holds the fan-in markers of a scan, one per finished layer.
func DonePrefix(id string) string { return Scan(id) + "done/" }

// Done is the create-once marker of one finished layer of a scan.
func Done(id, diffID string) string { return DonePrefix(id) + diffID }

// Claim is created once by the worker that starts a scan's build-report.
func Claim(id string) string { return Scan(id) + "claim" }

// Redrive is created once per re-drive of a stuck scan (n from 0).
func Redrive(id string, n int) string { return Scan(id) + RedriveDir + fmt.Sprint(n) }

// Abandoned is created once when the janitor gives up on a scan.
func Abandoned(id string) string { return Scan(id) + AbandonedFile }

// Result points at the report a scan produced.
func Result(id string) string { return Scan(id) + "result.json" }

// Names of a scan's records relative to Scan(id), as ScanFile returns them.
const (
	StateFile  = "state.json"
	ClaimFile  = "claim"
	ResultFile = "result.json"
	DoneDir    = "done/"
	// RedriveDir and AbandonedFile record the janitor's re-drives.
	RedriveDir    = "redrive/"
	AbandonedFile = "abandoned"
)

// ScanFile splits a key under ScansPrefix into the scan ID and the record's
// name relative to Scan(id) ("state.json", "done/<diffID>", …).
func ScanFile(key string) (id, file string, ok bool) {
	rest, ok := strings.CutPrefix(key, ScansPrefix)
	if !ok {
		return "", "", false
	}
	id, file, ok = strings.Cut(rest, "/")
	if !ok || id == "" || file == "" {
		return "", "", false
	}
	return id, file, true
}

// jobStamp dates job objects in their names, so that the janitor can tell
// an old, unconsumed job without reading it.
const jobStamp = "20060102T150405.000Z"

// QueueStep is the prefix of a step's job objects; the store's event
// notification on it invokes the step's function.
func QueueStep(step string) string { return QueuePrefix + step + "/" }

// Job is a job object of a step, created at t. The random part comes
// first: names that start with a time are sequential, which OSS and S3
// keep in one index partition, and a fleet scan writes thousands of jobs
// a second (OSS allows 2,000 requests a second to sequential names
// against 10,000 to others).
func Job(step string, t time.Time, random string) string {
	return QueueStep(step) + random + "-" + t.UTC().Format(jobStamp) + ".json"
}

// StepOf returns the step a job object key belongs to.
func StepOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, QueuePrefix)
	if !ok {
		return "", false
	}
	step, file, ok := strings.Cut(rest, "/")
	if !ok || step == "" || !strings.HasSuffix(file, ".json") || strings.Contains(file, "/") {
		return "", false
	}
	return step, true
}

// JobCreated returns when a job object was created, from its name.
// Jobs written before the random part came first (stamp-random.json) are
// read too.
func JobCreated(key string) (time.Time, bool) {
	name, ok := strings.CutSuffix(key[strings.LastIndexByte(key, '/')+1:], ".json")
	if !ok {
		return time.Time{}, false
	}
	first, second, _ := strings.Cut(name, "-")
	for _, stamp := range []string{second, first} {
		if t, err := time.Parse(jobStamp, stamp); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// AdvisoryCurrent points at the live advisory-DB version.
const AdvisoryCurrent = AdvisoriesPrefix + "current"

// AdvisoryManifest describes one advisory-DB version.
func AdvisoryManifest(version string) string {
	return AdvisoriesPrefix + version + "/manifest.json"
}

// AdvisoryEcosystem is the index of one ecosystem in one DB version, one
// line per package.
func AdvisoryEcosystem(version, ecosystem string) string {
	return AdvisoriesPrefix + version + "/ecosystems/" + url.PathEscape(ecosystem) + ".lines.zst"
}

// AdvisoryNVD holds NVD's ratings by CVE of one DB version.
func AdvisoryNVD(version string) string { return AdvisoriesPrefix + version + "/nvd.json.zst" }

// SignaturesCurrent points at the live malware signature set.
const SignaturesCurrent = SignaturesPrefix + "current"

// Signatures is the source of one signature-set version.
func Signatures(version string) string { return SignaturesPrefix + version + "/source.json.zst" }

// Whitelist is the store's shared whitelist.
const Whitelist = PolicyPrefix + "whitelist.json"

// Periodic is the legacy scope of scheduled rescans, read once into the
// settings' scope.
const Periodic = ConfigPrefix + "periodic.json"

// SettingsPrefix holds the control plane's one settings document, one
// create-once object per version: a PUT creates version n+1 only if nobody
// else did, which is the ETag's compare-and-swap.
const SettingsPrefix = ConfigPrefix + "settings/"

// SettingsVersion is version n of the settings document.
func SettingsVersion(n int) string { return SettingsPrefix + fmt.Sprintf("%010d.json", n) }

// SettingsVersionOf returns the version a key under SettingsPrefix holds.
func SettingsVersionOf(key string) (int, bool) {
	var n int
	name, ok := strings.CutPrefix(key, SettingsPrefix)
	if !ok || len(name) != 15 || !strings.HasSuffix(name, ".json") {
		return 0, false
	}
	_, err := fmt.Sscanf(name, "%010d.json", &n)
	return n, err == nil
}

// WhitelistRulesPrefix holds the whitelist rules, one object per rule.
const WhitelistRulesPrefix = ConfigPrefix + "whitelists/rules/"

// WhitelistRule is one whitelist rule.
func WhitelistRule(id string) string { return WhitelistRulesPrefix + id + ".json" }

// VEXDocumentsPrefix holds the VEX documents applied to every report.
const VEXDocumentsPrefix = ConfigPrefix + "vex/"

// VEXDocument is one stored VEX document, as its statements.
func VEXDocument(id string) string { return VEXDocumentsPrefix + id + ".json" }

// WhitelistMigrated is created once when the legacy Whitelist document
// has been read into rules.
const WhitelistMigrated = ConfigPrefix + "whitelists/migrated"

// ScopeSeen is created once when a listing first sees a repository of a
// connection: with auto-add off, repositories first seen after the scope
// was frozen stay out of it.
func ScopeSeen(connection, repository string) string {
	return ConfigPrefix + "scope-seen/" + connection + "/" + url.PathEscape(repository)
}

// ScopeSeenPrefix holds a connection's first-seen repositories.
func ScopeSeenPrefix(connection string) string {
	return ConfigPrefix + "scope-seen/" + connection + "/"
}

// Registry is one registry connection.
func Registry(id string) string { return ConfigPrefix + "registries/" + id + ".json" }

// RegistriesPrefix holds every registry connection.
const RegistriesPrefix = ConfigPrefix + "registries/"

// APIKey is one API key (hashed) with its role.
func APIKey(id string) string { return APIKeysPrefix + id + ".json" }

// APIKeysPrefix holds every API key.
const APIKeysPrefix = ConfigPrefix + "keys/"

// AuditPrefix holds the audit log, one object per entry.
const AuditPrefix = "audit/"

// Audit is one audit entry, named by its time so that listing is in order.
func Audit(t time.Time, random string) string {
	return AuditPrefix + t.UTC().Format(jobStamp) + "-" + random + ".json"
}

// Task is one task's document, created once: trigger, scope, images.
func Task(id string) string { return TasksPrefix + id + ".json" }

// TaskLogPrefix holds every task's execution log.
const TaskLogPrefix = "tasklog/"

// TaskLog is the prefix of one task's log: create-once records per image.
func TaskLog(id string) string { return TaskLogPrefix + id + "/" }

// TaskRecord is one create-once record of image item of a task
// ("started", "planned", "failed", "skipped", "scan-<id>").
func TaskRecord(id string, item int, record string) string {
	return TaskLog(id) + fmt.Sprintf("%06d", item) + "/" + record
}

// TaskSummary is written once when a task has finished.
func TaskSummary(id string) string { return TaskLog(id) + "summary.json" }

// TaskOpenPrefix marks the tasks still running, so that the timer advances
// them without reading every task ever run.
const TaskOpenPrefix = "taskopen/"

// TaskOpen is the open marker of a task, deleted when it has finished.
func TaskOpen(id string) string { return TaskOpenPrefix + id }

// QuotaPrefix holds quota consumption, by billing period (YYYYMM).
const QuotaPrefix = "quota/"

// QuotaPeriod is the prefix of one billing period's consumption.
func QuotaPeriod(period string) string { return QuotaPrefix + period + "/" }

// QuotaDigest is created once per digest per scan cycle of a period: the
// one unit that image consumes.
func QuotaDigest(period, cycle, digest string) string {
	return QuotaPeriod(period) + "digests/" + cycle + "/" + digest
}

// QuotaDigestsPrefix holds a period's consumed units.
func QuotaDigestsPrefix(period string) string { return QuotaPeriod(period) + "digests/" }

// QuotaSlot is one create-once unit of the purchased quota of a period.
func QuotaSlot(period string, n int) string {
	return QuotaPeriod(period) + "slots/" + fmt.Sprintf("%08d", n)
}

// QuotaSlotsPrefix holds a period's slots.
func QuotaSlotsPrefix(period string) string { return QuotaPeriod(period) + "slots/" }

// QuotaSlotNumber reads n back from a QuotaSlot key.
func QuotaSlotNumber(key string) (int, bool) {
	i := strings.LastIndex(key, "/slots/")
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(key[i+len("/slots/"):])
	return n, err == nil && n >= 0
}

// ChangesPrefix holds what each new report changed.
const ChangesPrefix = "changes/"

// ChangesOf holds one image's changes.
func ChangesOf(digest string) string { return ChangesPrefix + digest + "/" }

// Change is what the report of digest against DB version to, under
// policy (whitelist and check selection), changed from the one against
// from; created once.
func Change(digest, from, to, policy string) string {
	if from == "" {
		from = noDB
	}
	if policy != "" {
		to += "-" + strings.ReplaceAll(policy, "+", "-")
	}
	return ChangesOf(digest) + to + "-from-" + from + ".json"
}

// ImageLatest points at the latest shared report of an image and the scan
// it was built from: what a re-match rebuilds, and what the report API
// serves (stale) until a report against the current DB exists.
func ImageLatest(digest string) string { return ImagesPrefix + digest + "/latest.json" }

// ImageIndex lists the platform images of an image index that were
// scanned, by their manifest digests: reports are per platform image.
func ImageIndex(digest string) string { return ImagesPrefix + digest + "/index.json" }

// TagsPrefix holds the latest scan of each tag.
const TagsPrefix = "tags/"

// TagScan points at the latest scan of one tag of a repository.
func TagScan(host, repository, tag string) string {
	return TagsPrefix + host + "/" + repository + "/" + url.PathEscape(tag) + ".json"
}

// Outbox holds pending notification deliveries.
const Outbox = NotificationsPrefix + "outbox/"

// Notification is one pending delivery, named by its idempotency key.
func Notification(id string) string { return Outbox + id + ".json" }

// NotificationQueued is created once per delivery (event, target): the
// same event emitted again queues nothing.
func NotificationQueued(id string) string { return NotificationsQueuedPrefix + id + ".json" }

// NotificationsQueuedPrefix holds every delivery's create-once record.
const NotificationsQueuedPrefix = NotificationsPrefix + "queued/"

// NotificationLease is created once per attempt of a delivery.
func NotificationLease(id string, attempt int) string {
	return NotificationLeases(id) + fmt.Sprint(attempt)
}

// NotificationLeases holds a delivery's attempt leases.
func NotificationLeases(id string) string { return NotificationsPrefix + "lease/" + id + "/" }

// NotificationSent marks a delivery that was sent.
func NotificationSent(id string) string { return NotificationsPrefix + "sent/" + id }

// NotificationDead is a delivery given up on after its last attempt.
func NotificationDead(id string) string { return NotificationsPrefix + "dead/" + id + ".json" }

// NotificationsDeadPrefix holds the dead letters.
const NotificationsDeadPrefix = NotificationsPrefix + "dead/"

// Fix is the prefix of one fix task's layers and verification.
func Fix(taskID string) string { return FixesPrefix + taskID + "/" }

// EventsPrefix holds what de-duplicates registry notifications.
const EventsPrefix = "events/"

// EventsSeenPrefix holds the notifications taken, by day (YYYYMMDD).
const EventsSeenPrefix = EventsPrefix + "seen/"

// EventSeen is created once per delivered notification (by its ID) on
// day; the janitor deletes past days.
func EventSeen(day, hash string) string { return EventsSeenPrefix + day + "/" + hash }

// DigestsQueuedPrefix holds the digests queued, by window.
const DigestsQueuedPrefix = EventsPrefix + "digests/"

// DigestQueued is created once per digest and window: a digest pushed
// again within the window is not queued again.
func DigestQueued(digest string, window int64) string {
	return DigestsQueuedPrefix + fmt.Sprint(window) + "/" + digest
}

// ThrottlePrefix holds every registry's hourly throttle slots.
const ThrottlePrefix = "throttle/"

// ThrottleHour holds the slots one registry's images took in one hour
// (YYYYMMDDHH).
func ThrottleHour(registry, hour string) string { return ThrottlePrefix + registry + "/" + hour + "/" }

// ThrottleSlot is one create-once slot of a registry's hour.
func ThrottleSlot(registry, hour string, n int) string {
	return ThrottleHour(registry, hour) + fmt.Sprintf("%06d", n)
}

// FixResult is one fix of a task's image: the plan, the fix layer's
// digests, the verification and where the fixed image went.
func FixResult(task string, item int) string {
	return FixesPrefix + "results/" + task + "/" + fmt.Sprintf("%06d", item) + ".json"
}

// RemediationPrefix holds the latest remediation status of each image.
const RemediationPrefix = FixesPrefix + "images/"

// Remediation is an image's latest remediation status, by the digest of
// the image that was fixed.
func Remediation(digest string) string { return RemediationPrefix + digest + ".json" }

// ClustersPrefix holds the Kubernetes cluster connections.
const ClustersPrefix = ConfigPrefix + "clusters/"

// Cluster is one cluster connection (its token sealed).
func Cluster(id string) string { return ClustersPrefix + id + ".json" }

// RuntimePrefix holds where each image was seen running.
const RuntimePrefix = "runtime/"

// RuntimeCluster is the prefix of one cluster's images.
func RuntimeCluster(cluster string) string { return RuntimePrefix + cluster + "/" }

// RuntimeImage is an image's workloads in a cluster, as its latest
// runtime scan found them.
func RuntimeImage(cluster, digest string) string { return RuntimeCluster(cluster) + digest + ".json" }
