package eval

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/classifier"
	"github.com/vigil-ids/vigil/internal/syscalls"
	"github.com/vigil-ids/vigil/internal/testutil/cvtest"
)

// Every model kind is trained and scored on the same split, each run with
// its own seed, side by side with the paper's figures; the cross-host
// protocol tests on the named hosts only.
func TestCountVecProtocols(t *testing.T) {
	dir := cvtest.WriteRecordings(t, t.TempDir(), 200, 4)
	var progress bytes.Buffer
	rep, err := CountVec(context.Background(), CountVecOptions{Data: dir, Runs: 2, Models: []string{"logreg", "forest"}, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 || rep.Rows[0].Model != "logreg" || rep.Rows[1].Model != "forest" || rep.Runs != 2 {
		t.Fatalf("rows %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		if len(r.PerRunPrecision) != 2 || r.Precision.Mean < 0.9 || r.Recall.Mean < 0.9 || r.PaperRow == "" {
			t.Fatalf("row %+v", r)
		}
	}
	if !strings.Contains(rep.Protocol, "time split 80/20") || rep.Table != "Table 1 (laboratory)" || len(rep.Classes) != 6 {
		t.Fatalf("report %+v", rep)
	}
	if strings.Count(progress.String(), "run ") != 4 {
		t.Fatalf("progress:\n%s", progress.String())
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil || !strings.Contains(out.String(), "Logistic Regression 0.843") || !strings.Contains(out.String(), "Random Forest") {
		t.Fatalf("table:\n%s", out.String())
	}

	cross, err := CountVec(context.Background(), CountVecOptions{Data: dir, Runs: 1, Models: []string{"logreg"}, TestGroups: []string{"host3"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cross.TestHosts, ",") != "host3" || strings.Contains(strings.Join(cross.TrainHosts, ","), "host3") || cross.Table != "Table 2 (production, other servers)" {
		t.Fatalf("cross-host report %+v", cross)
	}
	if cross.Rows[0].PaperPrecision != PaperTable2["logreg"].Precision {
		t.Fatalf("cross-host paper figures %+v", cross.Rows[0])
	}

	if _, err := CountVec(context.Background(), CountVecOptions{Data: dir, Models: []string{"logreg"}, TestGroups: []string{"nohost"}}); err == nil || !strings.Contains(err.Error(), `"nohost" has no samples`) {
		t.Fatalf("unknown test host: %v", err)
	}
	if _, err := CountVec(context.Background(), CountVecOptions{Data: dir, Models: []string{"perceptron"}}); err == nil || !strings.Contains(err.Error(), `"perceptron"`) {
		t.Fatalf("unknown model: %v", err)
	}
}

// The LID-DS recording's apache2 processes run through the classify
// engine with a model that does not know apache2: every full sequence is
// classified, and neither novelty nor masquerade can apply to a name the
// model does not know.
func TestLIDDSClassify(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "datasets", "lid-ds-2021-sample")
	if _, err := os.Stat(filepath.Join(dir, "aggressive_nightingale_1018.zip")); err != nil {
		t.Skipf("the shared datasets are not here (%v): a fresh clone has no ../shared", err)
	}
	res, err := classifier.Train(context.Background(), classifier.TrainOptions{Data: cvtest.WriteRecordings(t, t.TempDir(), 120, 5), Kind: "logreg"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := LIDDSClassify(dir, res.File)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d recordings", len(recs))
	}
	r := recs[0]
	if r.Vectors != 101 || len(r.Processes) != 1 || r.Processes["apache2"] || r.Exploit.Unix() != 1631078877 {
		t.Fatalf("recording %+v", r)
	}
	if r.Before.Sequences == 0 || r.After.Sequences == 0 {
		t.Fatalf("sequences before %d, from the exploit %d: both sides have full sequences", r.Before.Sequences, r.After.Sequences)
	}
	for _, side := range []LIDDSClassSequences{r.Before, r.After} {
		if side.Scenarios["novelty"] != 0 || side.Scenarios["masquerade"] != 0 {
			t.Fatalf("novelty or masquerade for a name the model does not know: %v", side.Scenarios)
		}
	}
	var out bytes.Buffer
	if err := WriteLIDDSClassify(&out, res.File, recs); err != nil || !strings.Contains(out.String(), `"apache2" (not a class`) {
		t.Fatalf("written:\n%s", out.String())
	}
}

// A model trained on one run of a lab is tried on another: the ordinary
// processes raise mostly nothing, each known-bad tool is named non-grata
// with its own class, and sshd's behaviour under nginx's name is a
// masquerade.
func TestScenarioClassify(t *testing.T) {
	res, err := classifier.Train(context.Background(), classifier.TrainOptions{Data: cvtest.WriteRecordings(t, t.TempDir(), 120, 5), Kind: "logreg"})
	if err != nil {
		t.Fatal(err)
	}
	other := cvtest.WriteRecordings(t, t.TempDir(), 60, 9)
	if err := os.MkdirAll(filepath.Join(other, "masquerade"), 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	fake := cvtest.Vectors(rng, "host1", 4242, "nginx", cvtest.T0, 60, cvtest.Behaviours["sshd"])
	f, err := os.Create(filepath.Join(other, "masquerade", "nginx.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscalls.WriteVectors(f, fake); err != nil {
		t.Fatal(err)
	}
	f.Close()

	recs, err := ScenarioClassify(other, res.File)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range recs {
		kinds[r.Kind]++
		if r.Sequences == 0 {
			t.Fatalf("%s/%s: no sequence classified", r.Kind, r.Name)
		}
		if share := float64(r.Expected) / float64(r.Sequences); share < 0.8 {
			t.Errorf("%s/%s: %d of %d sequences as expected (%v, top %v)", r.Kind, r.Name, r.Expected, r.Sequences, r.Scenarios, r.TopClass)
		}
	}
	if kinds[RecordingHost] != len(cvtest.Hosts) || kinds[RecordingNonGrata] != 2 || kinds[RecordingMasquerade] != 1 {
		t.Fatalf("recordings read: %v", kinds)
	}
	var out bytes.Buffer
	if err := WriteScenarioClassify(&out, res.File, recs); err != nil || !strings.Contains(out.String(), "non-grata miner") || !strings.Contains(out.String(), "masquerade") {
		t.Fatalf("written:\n%s", out.String())
	}
	if _, err := ScenarioClassify(t.TempDir(), res.File); err == nil || !strings.Contains(err.Error(), "no recording under") {
		t.Fatalf("an empty directory: %v", err)
	}
}
