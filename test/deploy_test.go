package test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// functionsInCode lists the function folders under functions/.
func functionsInCode(t *testing.T) []string {
	dirs, _ := filepath.Glob("../functions/*/main.go")
	var out []string
	for _, d := range dirs {
		out = append(out, filepath.Base(filepath.Dir(d)))
	}
	if len(out) != 9 {
		t.Fatalf("%d functions under functions/, want 9: %v", len(out), out)
	}
	return out
}

// renderedSYAML is s.yaml as Serverless Devs renders it (`s preview -o
// json`, when make deps could install it), else as YAML decodes it.
func renderedSYAML(t *testing.T) map[string]any {
	var doc map[string]any
	if s, err := filepath.Abs("../.tools/node_modules/.bin/s"); err == nil {
		if _, err := os.Stat(s); err == nil {
			cmd := exec.Command(s, "preview", "-t", "s.yaml", "-o", "json")
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "ALIBABA_CLOUD_ACCOUNT_ID=1234567890123456", "LAYERSCAN_WEBHOOK_TOKEN=test-token")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("s preview: %v\n%s", err, out)
			}
			i := bytes.IndexByte(out, '{')
			if i < 0 || json.Unmarshal(out[i:], &doc) != nil {
				t.Fatalf("s preview printed no JSON:\n%s", out)
			}
			return doc
		}
	}
	t.Log("@serverless-devs/s is not installed: checking s.yaml as YAML decodes it")
	b, err := os.ReadFile("../s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func m(v any) map[string]any { x, _ := v.(map[string]any); return x }
func list(v any) []any       { x, _ := v.([]any); return x }
func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	}
	return -1
}

var cronRe = regexp.MustCompile(`^(CRON_TZ=\S+ )?(\S+ ){5}\S+$|^@every \d+[smh]$`)

// TestSYAMLNamesEveryFunctionAndTrigger checks s.yaml against the code: one
// fc3 resource per function folder, the triggers each function's handler
// takes, and the platform's ranges.
func TestSYAMLNamesEveryFunctionAndTrigger(t *testing.T) {
	doc := renderedSYAML(t)
	if doc["edition"] != "3.0.0" {
		t.Errorf("edition %v", doc["edition"])
	}
	res := m(doc["resources"])
	wantTriggers := map[string][]string{
		"scan-api": {"http"}, "registry-events": {"eventbridge", "http"}, "periodic-scan": {"timer"},
		"scan-image": {"oss"}, "analyze-layer": {"oss"}, "build-report": {"oss"}, "fix-image": {"oss"},
		"sync-advisories": {"timer"}, "janitor": {"timer"},
	}
	for _, fn := range functionsInCode(t) {
		r := m(res[fn])
		if r == nil {
			t.Errorf("s.yaml has no resource for function %s", fn)
			continue
		}
		p := m(r["props"])
		if r["component"] != "fc3" || p["functionName"] != "layerscan-"+fn || p["code"] != "./dist/fc/"+fn {
			t.Errorf("%s: component %v name %v code %v", fn, r["component"], p["functionName"], p["code"])
		}
		if rt, _ := p["runtime"].(string); !strings.HasPrefix(rt, "custom.debian") {
			t.Errorf("%s: runtime %v", fn, p["runtime"])
		}
		crc := m(p["customRuntimeConfig"])
		if num(crc["port"]) != 9000 || len(list(crc["command"])) != 1 || list(crc["command"])[0] != "/code/bootstrap" {
			t.Errorf("%s: customRuntimeConfig %v", fn, crc)
		}
		if s, _ := m(p["environmentVariables"])["LAYERSCAN_STORE"].(string); !strings.HasPrefix(s, "oss://") {
			t.Errorf("%s: LAYERSCAN_STORE %v", fn, s)
		}
		if mem := num(p["memorySize"]); mem < 128 || mem > 32768 || int(mem)%64 != 0 {
			t.Errorf("%s: memorySize %v", fn, mem)
		}
		if to := num(p["timeout"]); to < 1 || to > 86400 {
			t.Errorf("%s: timeout %v", fn, to)
		}
		if d, ok := p["diskSize"]; ok && num(d) != 512 && num(d) != 10240 {
			t.Errorf("%s: diskSize %v", fn, d)
		}
		if c, ok := p["instanceConcurrency"]; ok && (num(c) < 1 || num(c) > 100) {
			t.Errorf("%s: instanceConcurrency %v", fn, c)
		}
		var kinds []string
		for _, tr := range list(p["triggers"]) {
			tm := m(tr)
			kind, _ := tm["triggerType"].(string)
			kinds = append(kinds, kind)
			cfg := m(tm["triggerConfig"])
			switch kind {
			case "oss":
				prefix, _ := m(m(cfg["filter"])["key"])["prefix"].(string)
				if !strings.HasSuffix(prefix, "queue/"+fn+"/") || m(m(cfg["filter"])["key"])["suffix"] != ".json" {
					t.Errorf("%s: OSS trigger prefix %q does not deliver queue/%s/ jobs", fn, prefix, fn)
				}
				if tm["invocationRole"] == nil || tm["sourceArn"] == nil {
					t.Errorf("%s: OSS trigger without sourceArn and invocationRole", fn)
				}
				dest := m(m(m(p["asyncInvokeConfig"])["destinationConfig"])["onFailure"])["destination"]
				if dest == nil || num(m(p["asyncInvokeConfig"])["maxAsyncRetryAttempts"]) < 1 {
					t.Errorf("%s: async function without retries and a failure destination", fn)
				}
			case "timer":
				if c, _ := cfg["cronExpression"].(string); !cronRe.MatchString(c) {
					t.Errorf("%s: cron %q is not FC's 6-field form", fn, c)
				}
			case "eventbridge":
				pat, _ := cfg["eventRuleFilterPattern"].(string)
				if !strings.Contains(pat, `"acs.cr"`) || !strings.Contains(pat, "cr:Artifact:PushCompleted") {
					t.Errorf("%s: EventBridge pattern %q", fn, pat)
				}
			case "http":
				if cfg["authType"] == nil {
					t.Errorf("%s: HTTP trigger without authType", fn)
				}
			}
		}
		if strings.Join(kinds, ",") != strings.Join(wantTriggers[fn], ",") {
			t.Errorf("%s: triggers %v, want %v", fn, kinds, wantTriggers[fn])
		}
	}
	for name := range res {
		if _, ok := wantTriggers[name]; !ok {
			t.Errorf("s.yaml resource %s has no function in the code", name)
		}
	}
}

// TestSAMTemplateNamesEveryFunction checks templates/template.yaml the same
// way: one AWS::Serverless::Function per function folder, built from
// dist/lambda/<name>/, with the events its handler takes.
func TestSAMTemplateNamesEveryFunction(t *testing.T) {
	b, err := os.ReadFile("../templates/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// CloudFormation's short tags (!Ref, !Sub, !GetAtt) are custom YAML
	// tags: decoding into a node keeps them without needing their meaning.
	var node yaml.Node
	if err := yaml.Unmarshal(b, &node); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := node.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if m(m(doc["Globals"])["Function"])["Runtime"] != "provided.al2023" {
		t.Errorf("runtime %v", m(m(doc["Globals"])["Function"])["Runtime"])
	}
	want := map[string]string{
		"scan-api": "", "registry-events": "EventBridgeRule", "periodic-scan": "Schedule",
		"scan-image": "S3", "analyze-layer": "S3", "build-report": "S3", "fix-image": "S3",
		"sync-advisories": "Schedule", "janitor": "Schedule",
	}
	found := map[string]bool{}
	for _, r := range m(doc["Resources"]) {
		res := m(r)
		if res["Type"] != "AWS::Serverless::Function" {
			continue
		}
		p := m(res["Properties"])
		name := strings.TrimPrefix(p["FunctionName"].(string), "layerscan-")
		found[name] = true
		if p["CodeUri"] != "../dist/lambda/"+name+"/" {
			t.Errorf("%s: CodeUri %v", name, p["CodeUri"])
		}
		var kinds []string
		for _, e := range m(p["Events"]) {
			kind := m(e)["Type"].(string)
			kinds = append(kinds, kind)
			if kind == "S3" {
				rules := list(m(m(m(m(e)["Properties"])["Filter"])["S3Key"])["Rules"])
				if len(rules) == 0 || m(rules[0])["Value"] != "layerscan/queue/"+name+"/" {
					t.Errorf("%s: S3 filter %v", name, rules)
				}
				if p["EventInvokeConfig"] == nil {
					t.Errorf("%s: async function without EventInvokeConfig", name)
				}
			}
		}
		if strings.Join(kinds, ",") != want[name] {
			t.Errorf("%s: events %v, want %s", name, kinds, want[name])
		}
		if (name == "scan-api" || name == "registry-events") && p["FunctionUrlConfig"] == nil {
			t.Errorf("%s: no function URL for its HTTP requests", name)
		}
	}
	for _, fn := range functionsInCode(t) {
		if !found[fn] {
			t.Errorf("the SAM template has no function %s", fn)
		}
	}
}

// TestTerraformIsFormatted runs terraform fmt -check over infra/ when
// terraform is installed. (terraform validate needs the providers, which
// this machine cannot download.)
func TestTerraformIsFormatted(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not installed")
	}
	if out, err := exec.Command(tf, "fmt", "-recursive", "-check", "-diff", "../infra").CombinedOutput(); err != nil {
		t.Errorf("terraform fmt: %v\n%s", err, out)
	}
}
