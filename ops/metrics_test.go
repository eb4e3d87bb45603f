package ops

import (
	"fmt"
	"testing"

	"github.com/tidygram/tidygram/tg"
)

// TestAPICallLabelsBounded: any string reaches Client.Call, but only Bot API
// method names become method labels (in their documented spelling); every
// other name shares the label "other", so 3,000 made-up names add one
// series, not 3,000.
func TestAPICallLabelsBounded(t *testing.T) {
	m := NewMetrics(WithoutStandardCollectors())
	apiErr := &tg.APIError{ErrorCode: 400, Description: "Bad Request"}
	for i := range 3000 {
		m.APICall(fmt.Sprintf("bogusMethod%d", i), 0, apiErr)
		m.LimiterRetrying(fmt.Sprintf("bogusMethod%d", i), 0, nil)
	}
	m.APICall("../../etc/passwd", 0, apiErr)
	m.APICall("", 0, apiErr)
	m.APICall("sendMessage", 0, nil)
	m.APICall("SENDMESSAGE", 0, nil) // the Bot API ignores case: the same method
	m.APICall("getUpdates", 0, nil)
	m.LimiterRetrying("sendMessage", 0, nil)

	want := map[string]float64{
		"other/" + ResultError:    3002,
		"sendMessage/" + ResultOK: 2,
		"getUpdates/" + ResultOK:  1,
	}
	wantRetries := map[string]float64{"other": 3000, "sendMessage": 1}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got, gotRetries := map[string]float64{}, map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case "tidygram_api_calls_total":
				got[labels["method"]+"/"+labels["result"]] = mt.GetCounter().GetValue()
			case "tidygram_api_retries_total":
				gotRetries[labels["method"]] = mt.GetCounter().GetValue()
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("api_calls_total has %d series, want %d: %v", len(got), len(want), keys(got, 10))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("api_calls_total{%s} = %v, want %v", k, got[k], v)
		}
	}
	if len(gotRetries) != len(wantRetries) {
		t.Errorf("api_retries_total has %d series, want %d: %v", len(gotRetries), len(wantRetries), keys(gotRetries, 10))
	}
	for k, v := range wantRetries {
		if gotRetries[k] != v {
			t.Errorf("api_retries_total{%s} = %v, want %v", k, gotRetries[k], v)
		}
	}
}

func keys(m map[string]float64, n int) []string {
	var out []string
	for k := range m {
		if len(out) == n {
			out = append(out, "…")
			break
		}
		out = append(out, k)
	}
	return out
}
