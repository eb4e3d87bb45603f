package tg

import (
	"strings"
	"testing"
)

// TestMethodName: every generated method is known in its documented
// spelling and in any case; nothing else is.
func TestMethodName(t *testing.T) {
	methods := generatedMethods()
	if len(methodNames) != len(methods) || len(methodNamesFolded) != len(methods) {
		t.Fatalf("%d names, %d folded, want %d", len(methodNames), len(methodNamesFolded), len(methods))
	}
	for name := range methods {
		for _, spelling := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			if got, ok := MethodName(spelling); !ok || got != name || !IsMethod(spelling) {
				t.Errorf("MethodName(%q) = %q, %v; want %q", spelling, got, ok, name)
			}
		}
	}
	for _, name := range []string{"", "sendMessage2", "send_message", "../getMe", "getMe ", strings.Repeat("a", 1000)} {
		if got, ok := MethodName(name); ok || got != "" || IsMethod(name) {
			t.Errorf("MethodName(%q) = %q, %v; want unknown", name, got, ok)
		}
	}
}
