package limit

import (
	"reflect"

	"github.com/tidygram/tidygram/tg"
)

// maxUploadDepth bounds the walk of hasUpload (params nest a few levels:
// params, media slice, union, InputFile).
const maxUploadDepth = 8

// hasUpload reports whether params carries a tg.InputFile that uploads
// bytes. It runs only on the retry path.
func hasUpload(params any) bool {
	return walkUpload(reflect.ValueOf(params), 0)
}

func walkUpload(v reflect.Value, depth int) bool {
	if !v.IsValid() || depth > maxUploadDepth {
		return false
	}
	if v.Type() == reflect.TypeFor[*tg.InputFile]() {
		return !v.IsNil() && v.CanInterface() && v.Interface().(*tg.InputFile).IsUpload()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && walkUpload(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && walkUpload(v.Field(i), depth+1) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if walkUpload(v.Index(i), depth+1) {
				return true
			}
		}
	}
	return false
}
