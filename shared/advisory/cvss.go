package advisory

import (
	"math"
	"strings"

	"github.com/layerscan/layerscan/shared/scan"
)

// CVSS3Score computes the CVSS v3.0/v3.1 base score of a vector such as
// "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H". ok is false for anything
// that is not a complete v3 vector.
func CVSS3Score(vector string) (score float64, ok bool) {
	parts := strings.Split(vector, "/")
	if len(parts) < 9 || !strings.HasPrefix(parts[0], "CVSS:3") {
		return 0, false
	}
	m := map[string]string{}
	for _, p := range parts[1:] {
		k, v, found := strings.Cut(p, ":")
		if !found {
			return 0, false
		}
		m[k] = v
	}
	pick := func(k string, vals map[string]float64) (float64, bool) {
		v, ok := vals[m[k]]
		return v, ok
	}
	av, ok1 := pick("AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2})
	ac, ok2 := pick("AC", map[string]float64{"L": 0.77, "H": 0.44})
	ui, ok3 := pick("UI", map[string]float64{"N": 0.85, "R": 0.62})
	cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	c, ok4 := pick("C", cia)
	i, ok5 := pick("I", cia)
	a, ok6 := pick("A", cia)
	scope := m["S"]
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || (scope != "U" && scope != "C") {
		return 0, false
	}
	prVals := map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	if scope == "C" {
		prVals = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
	}
	pr, ok7 := prVals[m["PR"]]
	if !ok7 {
		return 0, false
	}
	iss := 1 - (1-c)*(1-i)*(1-a)
	var impact float64
	if scope == "U" {
		impact = 6.42 * iss
	} else {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	}
	expl := 8.22 * av * ac * pr * ui
	if impact <= 0 {
		return 0, true
	}
	if scope == "U" {
		return roundUp(math.Min(impact+expl, 10)), true
	}
	return roundUp(math.Min(1.08*(impact+expl), 10)), true
}

// roundUp is the CVSS v3.1 Roundup: the smallest one-decimal number >= x.
func roundUp(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
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
