package heap

import (
	"strings"
	"testing"
)

// cut picks the program's frame as the site, the library call beneath it
// as the allocator, and the handler under tidygram's executor.
func TestCut(t *testing.T) {
	stack := func(fns ...string) []Frame {
		var out []Frame
		for _, f := range fns {
			out = append(out, Frame{Func: f, File: "/x/" + f + ".go", Line: 1})
		}
		return out
	}
	exec := executorCall
	tests := []struct {
		name                 string
		stack                []Frame
		site, alloc, handler string
		route                string
	}{
		{"handler downloads through tidygram's client",
			stack("bytes.growSlice", "bytes.(*Buffer).grow", module+"/tg.copyUpTo", module+"/tg.(*Client).Download", "main.download", "main.savePhoto", module+"/router.(*Router).run", exec, module+"/internal/executor.(*Executor).run"),
			"main.download", "bytes.growSlice", "main.savePhoto", "photo"},
		{"handler allocates itself",
			stack("main.savePhoto", exec),
			"main.savePhoto", "", "main.savePhoto", "photo"},
		{"tidygram's own stages are the site, not the program's main",
			stack(module+"/internal/poller.(*Poller).fetch", module+"/internal/poller.(*Poller).Run", module+".(*Bot).Run", "main.run", "main.main"),
			module + "/internal/poller.(*Poller).fetch", "", "", ""},
		{"standard library only",
			stack("net/http.(*conn).readRequest", "net/http.(*conn).serve"),
			"net/http.(*conn).readRequest", "", "", ""},
		{"a test package of tidygram is a program",
			stack(module+"/leak/heap_test.remember", module+"/leak/heap_test.ExampleExplainer", "testing.runExample"),
			module + "/leak/heap_test.remember", "", "", ""},
		{"a third-party library under a handler",
			stack("github.com/acme/img.Decode", "main.thumb", exec),
			"github.com/acme/img.Decode", "", "main.thumb", ""},
		{"empty", nil, "(unknown)", "", "", ""},
	}
	c, err := newConfig([]Option{WithRouteFunc("photo", "main.savePhoto")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := c.cut(tt.stack)
			if s.Func != tt.site || s.Alloc != tt.alloc || s.Handler != tt.handler || s.Route != tt.route {
				t.Errorf("cut = site %q alloc %q handler %q route %q; want %q %q %q %q", s.Func, s.Alloc, s.Handler, s.Route, tt.site, tt.alloc, tt.handler, tt.route)
			}
			if tt.handler != "" && tt.handler != tt.site && !strings.Contains(s.Where(), "handler "+tt.handler) {
				t.Errorf("Where() = %q", s.Where())
			}
		})
	}
}

func TestFrameKinds(t *testing.T) {
	for fn, want := range map[string][3]bool{ // isStd, isTidygram, isUser
		"io.ReadAll":                          {true, false, false},
		"net/http.(*conn).serve":              {true, false, false},
		"slices.Sort[go.shape.int]":           {true, false, false},
		"main.main":                           {false, false, true},
		"main.(*T).f":                         {false, false, true},
		"github.com/acme/bot.handle":          {false, false, true},
		module + ".(*Bot).handle":             {false, true, false},
		module + "/tg.(*Client).Download":     {false, true, false},
		module + "/examples/files.upperCase":  {false, false, true},
		module + "/leak/heap/testdata/x.main": {false, false, true},
		module + "/leak/heap_test.remember":   {false, false, true},
	} {
		if got := [3]bool{isStd(fn), isTidygram(fn), isUser(fn)}; got != want {
			t.Errorf("%s: std, tidygram, user = %v, want %v", fn, got, want)
		}
	}
}

// An ops server's /debug/routes names handlers' routes: the first route of
// a function wins, entries without a name or handler are skipped, a later
// WithRouteFunc overrides, and an answer that is not a list is refused.
func TestServerRoutes(t *testing.T) {
	opt, err := ServerRoutes([]byte(`[{"name":"/start","handler":"main.greet"},{"name":"text","handler":"main.greet"},
		{"name":"","handler":"main.nameless"},{"name":"photo","handler":""},{"name":"fallback","handler":"main.other"}]`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConfig([]Option{opt, WithRouteFunc("mine", "main.other")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"main.greet": "/start", "main.other": "mine"}
	if len(c.routes) != len(want) {
		t.Errorf("routes %v, want %v", c.routes, want)
	}
	for fn, route := range want {
		if c.routes[fn] != route {
			t.Errorf("route of %s = %q, want %q", fn, c.routes[fn], route)
		}
	}
	for _, bad := range []string{``, `{"name":"x"}`, `<html>not found</html>`, `[{"name":1}]`} {
		if _, err := ServerRoutes([]byte(bad)); err == nil {
			t.Errorf("ServerRoutes(%q) accepted", bad)
		}
	}
}
