package notify

import (
	"encoding/json"
	"testing"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// The enumerations of the Detection Finding class (OCSF 1.4.0) that Vigil
// fills.
var (
	ocsfActivities = map[float64]string{0: "Unknown", 1: "Create", 2: "Update", 3: "Close", 99: "Other"}
	ocsfSeverities = map[float64]string{0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal", 99: "Other"}
	ocsfStatuses   = map[float64]string{0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 5: "Archived", 6: "Deleted", 99: "Other"}
	ocsfObsTypes   = map[float64]string{1: "Hostname", 2: "IP Address"}
)

// checkOCSF checks f, a decoded body, against the class's required fields
// and enumerations and against req.
func checkOCSF(t *testing.T, f map[string]any, req action.Request) {
	t.Helper()
	num := func(m map[string]any, k string) float64 {
		v, ok := m[k].(float64)
		if !ok {
			t.Errorf("%s: %v is not a number", k, m[k])
		}
		return v
	}
	str := func(m map[string]any, k string) string {
		v, ok := m[k].(string)
		if !ok || v == "" {
			t.Errorf("%s: %v is not a non-empty string", k, m[k])
		}
		return v
	}
	obj := func(m map[string]any, k string) map[string]any {
		v, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("%s: %v is not an object", k, m[k])
		}
		return v
	}
	if num(f, "class_uid") != 2004 || str(f, "class_name") != "Detection Finding" {
		t.Errorf("class %v %v", f["class_uid"], f["class_name"])
	}
	if num(f, "category_uid") != 2 || str(f, "category_name") != "Findings" {
		t.Errorf("category %v %v", f["category_uid"], f["category_name"])
	}
	act := num(f, "activity_id")
	if name, ok := ocsfActivities[act]; !ok || str(f, "activity_name") != name {
		t.Errorf("activity %v %v", act, f["activity_name"])
	}
	if num(f, "type_uid") != 2004*100+act {
		t.Errorf("type_uid %v, want class_uid*100+activity_id", f["type_uid"])
	}
	sev := num(f, "severity_id")
	if name, ok := ocsfSeverities[sev]; !ok || str(f, "severity") != name {
		t.Errorf("severity %v %v", sev, f["severity"])
	}
	st := num(f, "status_id")
	if name, ok := ocsfStatuses[st]; !ok || str(f, "status") != name {
		t.Errorf("status %v %v", st, f["status"])
	}
	if num(f, "time") != float64(req.Time.UnixMilli()) {
		t.Errorf("time %v, want the decision's time in ms (%d)", f["time"], req.Time.UnixMilli())
	}
	fi := obj(f, "finding_info")
	if str(fi, "uid") != req.ID || str(fi, "title") == "" || num(fi, "created_time") != float64(req.Time.UnixMilli()) {
		t.Errorf("finding_info %v", fi)
	}
	if types, ok := fi["types"].([]any); !ok || len(types) == 0 {
		t.Errorf("finding_info.types %v", fi["types"])
	}
	md := obj(f, "metadata")
	if str(md, "version") != OCSFVersion {
		t.Errorf("metadata.version %v", md["version"])
	}
	p := obj(md, "product")
	if str(p, "name") != "Vigil" || str(p, "vendor_name") == "" || str(p, "version") == "" {
		t.Errorf("metadata.product %v", p)
	}
	obs, _ := f["observables"].([]any)
	seen := map[float64]string{}
	for _, o := range obs {
		om := o.(map[string]any)
		typ := num(om, "type_id")
		if name, ok := ocsfObsTypes[typ]; !ok || str(om, "type") != name || str(om, "name") == "" {
			t.Errorf("observable %v", om)
		}
		seen[typ] = str(om, "value")
	}
	if req.Subject.Host != "" && seen[1] != req.Subject.Host {
		t.Errorf("no Hostname observable for %s: %v", req.Subject.Host, obs)
	}
	if req.Subject.Addr.IsValid() && seen[2] != req.Subject.Addr.String() {
		t.Errorf("no IP Address observable for %s: %v", req.Subject.Addr, obs)
	}
	res, _ := f["resources"].([]any)
	if req.Subject.Host != "" && (len(res) != 1 || res[0].(map[string]any)["name"] != seen[1]) {
		t.Errorf("resources %v", res)
	}
}

func TestOCSFIsADetectionFindingWithValidEnumerations(t *testing.T) {
	req := sampleRequest()
	b, err := render(FormatOCSF, req, "svc-web")
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	checkOCSF(t, f, req)
	fi := f["finding_info"].(map[string]any)
	if fi["title"] != "Vigil contain-web on web-3" || fi["desc"] != "apache2 spawned a shell" {
		t.Errorf("finding_info %v", fi)
	}
	if f["message"] != req.Reason || f["activity_id"] != 1.0 || f["status_id"] != 1.0 {
		t.Errorf("message %v, activity %v, status %v", f["message"], f["activity_id"], f["status_id"])
	}
	um := f["unmapped"].(map[string]any)
	if um["policy"] != "contain-web" || len(um["reports"].([]any)) != 2 {
		t.Errorf("unmapped %v", um)
	}
}

func TestOCSFSeverityFollowsTheBands(t *testing.T) {
	for _, c := range []struct {
		band event.Severity
		id   float64
	}{{event.SeverityGreen, 1}, {event.SeverityYellow, 3}, {event.SeverityRed, 4}} {
		req := sampleRequest()
		req.Reports = req.Reports[:1]
		req.Reports[0].Severity = c.band
		b, _ := render(FormatOCSF, req, "m")
		var f map[string]any
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		checkOCSF(t, f, req)
		if f["severity_id"] != c.id {
			t.Errorf("%s: severity_id %v, want %v", c.band, f["severity_id"], c.id)
		}
	}
}

func TestOCSFCloseIsAResolvedFinding(t *testing.T) {
	req := sampleRequest()
	b, _ := json.Marshal(ocsfFinding(req, "m", true))
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	checkOCSF(t, f, req)
	if f["activity_id"] != 3.0 || f["type_uid"] != 200403.0 || f["status_id"] != 4.0 {
		t.Errorf("close: activity %v type %v status %v", f["activity_id"], f["type_uid"], f["status_id"])
	}
}

func TestOCSFWithoutReportsOrSubjectStillCarriesTheRequiredFields(t *testing.T) {
	req := action.Request{ID: "d1", Method: "m", Kind: KindJSONFile, Time: t0}
	b, _ := render(FormatOCSF, req, "")
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	checkOCSF(t, f, req)
}
