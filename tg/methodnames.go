package tg

import "strings"

// IsMethod reports whether name is a method of the Bot API version tg was
// generated from (see MethodName). It is a lookup in a fixed table: use it
// to keep arbitrary strings out of metric labels and logs.
func IsMethod(name string) bool {
	_, ok := MethodName(name)
	return ok
}

// MethodName returns the documented spelling of the Bot API method name
// refers to ("sendMessage" for "sendmessage" or "SENDMESSAGE": the Bot API
// compares method names case-insensitively), and false when name is no
// method of the Bot API version tg was generated from: a method added by a
// later version is unknown here even though Client.Call can call it.
func MethodName(name string) (string, bool) {
	if _, ok := methodNames[name]; ok {
		return name, true
	}
	if len(name) > maxMethodLen {
		return "", false
	}
	canon, ok := methodNamesFolded[strings.ToLower(name)]
	return canon, ok
}
