package advisory

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// CSAF 2.0 documents as two vendors publish them:
//
//   - Red Hat's VEX (one CVE per document): product ids are
//     "<platform>:<component>", the platform named by a CPE
//     (cpe:/o:redhat:enterprise_linux:8, and the EUS/ELS/AUS variants of a
//     major release), the component a source package ("util-linux.src"),
//     a binary of it ("util-linux/libuuid") or, when fixed, a NEVRA
//     ("curl-0:7.76.1-26.el9_3.2.src"). known_affected is affected with no
//     fix (the remediation says whether one is planned: no_fix_planned
//     "Will not fix", none_available); fixed gives the fixed source NEVRA;
//     known_not_affected is not affected. Entries are keyed by the source
//     package, as Red Hat names them.
//   - SUSE's security advisories: product ids "<product>:<NVRA>" resolved
//     through product_tree.relationships; fixed or recommended NVRAs of any
//     product of a release ("… 15 SP3" and its modules, LTSS, SAP, HPC) fix
//     it for that release, keyed by the binary package.
//
// Both are tested with the corpus's real documents.

type csafDoc struct {
	Document struct {
		Category  string `json:"category"`
		Publisher struct {
			Namespace string `json:"namespace"`
		} `json:"publisher"`
		Tracking struct {
			ID string `json:"id"`
		} `json:"tracking"`
		Title             string `json:"title"`
		AggregateSeverity struct {
			Text string `json:"text"`
		} `json:"aggregate_severity"`
	} `json:"document"`
	ProductTree struct {
		Branches      []csafBranch `json:"branches"`
		Relationships []struct {
			FullProductName struct {
				ProductID string `json:"product_id"`
			} `json:"full_product_name"`
			ProductReference string `json:"product_reference"`
			RelatesTo        string `json:"relates_to_product_reference"`
		} `json:"relationships"`
	} `json:"product_tree"`
	Vulnerabilities []struct {
		CVE           string              `json:"cve"`
		Title         string              `json:"title"`
		ProductStatus map[string][]string `json:"product_status"`
		Remediations  []csafGroup         `json:"remediations"`
		Threats       []csafGroup         `json:"threats"`
	} `json:"vulnerabilities"`
}

type csafGroup struct {
	Category   string   `json:"category"`
	Details    string   `json:"details"`
	ProductIDs []string `json:"product_ids"`
}

type csafBranch struct {
	Category string `json:"category"`
	Name     string `json:"name"`
	Product  *struct {
		Name      string `json:"name"`
		ProductID string `json:"product_id"`
		Helper    struct {
			CPE string `json:"cpe"`
		} `json:"product_identification_helper"`
	} `json:"product"`
	Branches []csafBranch `json:"branches"`
}

// maxCSAFDepth bounds branch nesting (real trees are four deep).
const maxCSAFDepth = 16

func (b csafBranch) walk(depth int, each func(csafBranch)) {
	if depth > maxCSAFDepth {
		return
	}
	each(b)
	for _, c := range b.Branches {
		c.walk(depth+1, each)
	}
}

var (
	rhelCPE = regexp.MustCompile(`^cpe:/[ao]:redhat:(?:enterprise_linux|rhel_eus|rhel_els|rhel_aus|rhel_e4s|rhel_tus):(\d+)`)
	suseRel = regexp.MustCompile(`\b15 SP(\d+)\b`)
	leapRel = regexp.MustCompile(`^openSUSE Leap (\d+\.\d+)`)
	// nevra splits name-[epoch:]version-release.arch.
	nevra = regexp.MustCompile(`^(.+)-(?:(\d+):)?([^-]+)-([^-]+)\.([^.]+)$`)
)

// AddCSAF ingests a CSAF 2.0 document of Red Hat or SUSE; it returns the
// advisories added (one per CVE and package).
func (b *Builder) AddCSAF(data []byte) (int, error) {
	var doc csafDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("CSAF: %w", err)
	}
	// platforms: product id → ecosystem, from the branches.
	platforms := map[string]string{}
	ns := doc.Document.Publisher.Namespace
	for _, br := range doc.ProductTree.Branches {
		br.walk(0, func(x csafBranch) {
			if x.Product == nil {
				return
			}
			switch {
			case strings.Contains(ns, "redhat.com"):
				if m := rhelCPE.FindStringSubmatch(x.Product.Helper.CPE); m != nil {
					platforms[x.Product.ProductID] = "Red Hat:enterprise_linux:" + m[1]
				}
			case strings.Contains(ns, "suse.com"):
				name := x.Product.Name
				if m := leapRel.FindStringSubmatch(name); m != nil {
					platforms[x.Product.ProductID] = "openSUSE:Leap " + m[1]
				} else if m := suseRel.FindStringSubmatch(name); m != nil && strings.HasPrefix(name, "SUSE Linux Enterprise") {
					platforms[x.Product.ProductID] = "SUSE:Linux Enterprise Server 15 SP" + m[1]
				}
			}
		})
	}
	if len(platforms) == 0 {
		return 0, nil // a document for products layerscan does not scan
	}
	// components: full product id → (ecosystem, component).
	type comp struct{ eco, ref string }
	comps := map[string]comp{}
	for _, r := range doc.ProductTree.Relationships {
		if eco, ok := platforms[r.RelatesTo]; ok {
			comps[r.FullProductName.ProductID] = comp{eco, r.ProductReference}
		}
	}
	redHat := strings.Contains(ns, "redhat.com")
	n := 0
	for _, v := range doc.Vulnerabilities {
		id := v.CVE
		if id == "" {
			id = doc.Document.Tracking.ID
		}
		if id == "" {
			continue
		}
		// The CVE's impact for the product, else its impact at all (SUSE
		// rates a CVE once), else the document's aggregate severity.
		severity := func(pid string) string {
			cve := ""
			for _, t := range v.Threats {
				if t.Category != "impact" {
					continue
				}
				if contains(t.ProductIDs, pid) {
					return t.Details
				}
				if cve == "" {
					cve = t.Details
				}
			}
			if cve != "" {
				return cve
			}
			return doc.Document.AggregateSeverity.Text
		}
		summary := firstLine(v.Title)
		if summary == "" {
			summary = firstLine(doc.Document.Title)
		}
		seen := map[string]bool{}
		add := func(eco, name string, e Entry) {
			key := eco + "\x00" + name + "\x00" + fmt.Sprint(e.Ranges)
			if seen[key] {
				return
			}
			seen[key] = true
			b.add(eco, name, e)
			n++
		}
		for _, status := range []string{"fixed", "recommended", "first_fixed"} {
			for _, pid := range v.ProductStatus[status] {
				c, ok := comps[pid]
				if !ok {
					continue
				}
				m := nevra.FindStringSubmatch(c.ref)
				if m == nil || redHat && m[5] != "src" {
					continue // Red Hat: the source NEVRA stands for its binaries
				}
				fixed := m[3] + "-" + m[4]
				if m[2] != "" && m[2] != "0" {
					fixed = m[2] + ":" + fixed
				}
				add(c.eco, m[1], Entry{ID: id, Summary: summary, Severity: SeverityOfWord(severity(pid)),
					Ranges: []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: fixed}}}}})
			}
		}
		if !redHat {
			continue
		}
		for _, pid := range v.ProductStatus["known_affected"] {
			c, ok := comps[pid]
			if !ok {
				continue
			}
			src, _, _ := strings.Cut(strings.TrimSuffix(c.ref, ".src"), "/")
			note := "no fix is available yet"
			for _, r := range v.Remediations {
				if contains(r.ProductIDs, pid) {
					switch r.Category {
					case "no_fix_planned":
						note = "the vendor will not fix it (" + r.Details + ")"
					case "none_available":
						note = "no fix is available yet (" + r.Details + ")"
					case "workaround", "mitigation":
						note = r.Details
					}
				}
			}
			add(c.eco, src, Entry{ID: id, Summary: summary, Severity: SeverityOfWord(severity(pid)), FixNote: note,
				Ranges: []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}}}}})
		}
	}
	return n, nil
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
