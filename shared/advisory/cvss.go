package advisory

import (
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/layerscan/layerscan/shared/scan"
)

// CVSSScore computes the base score of a CVSS vector of any version:
// "CVSS:4.0/…", "CVSS:3.1/…", "CVSS:3.0/…", or a v2 vector without a
// prefix ("AV:N/AC:L/Au:N/C:P/I:P/A:P"). It parses with pandatix/go-cvss,
// which implements each version's specification (v4.0's macro-vector
// lookup included); ok is false for anything that is not a complete
// vector of a known version.
func CVSSScore(vector string) (version string, score float64, ok bool) {
	vector = strings.TrimSpace(vector)
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := gocvss40.ParseVector(vector)
		if err != nil {
			return "", 0, false
		}
		return "4.0", v.Score(), true
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := gocvss31.ParseVector(vector)
		if err != nil {
			return "", 0, false
		}
		return "3.1", v.BaseScore(), true
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := gocvss30.ParseVector(vector)
		if err != nil {
			return "", 0, false
		}
		return "3.0", v.BaseScore(), true
	case strings.HasPrefix(vector, "AV:"), strings.HasPrefix(vector, "(AV:"):
		v, err := gocvss20.ParseVector(strings.Trim(vector, "()"))
		if err != nil {
			return "", 0, false
		}
		return "2.0", v.BaseScore(), true
	}
	return "", 0, false
}

// SeverityOfScore maps a CVSS score to the qualitative scale.
func SeverityOfScore(s float64) scan.Severity {
	switch {
	case s >= 9:
		return scan.Critical
	case s >= 7:
		return scan.High
	case s >= 4:
		return scan.Medium
	case s > 0:
		return scan.Low
	}
	return scan.Unknown
}

// SeverityOfWord maps vendor words (GHSA, Ubuntu, Red Hat, urgency-free) to severities.
func SeverityOfWord(w string) scan.Severity {
	switch strings.ToLower(strings.TrimSpace(w)) {
	case "critical":
		return scan.Critical
	case "high", "important":
		return scan.High
	case "medium", "moderate":
		return scan.Medium
	case "low", "negligible":
		return scan.Low
	}
	return scan.Unknown
}
