package proxy

import (
	"encoding/json"
	"reflect"
	"testing"

	fastjson "github.com/segmentio/encoding/json"
)

// FuzzDecodeMessage: decodeMessage's envelope decoder (segmentio/encoding)
// takes and refuses what encoding/json does and reads the same message out
// of it, whatever an app or a server sends.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"x"}}}`,
		`{"jsonrpc":"2.0","id":"a","result":{"content":[{"type":"text","text":"hi \u00e9 \ud83d\ude00"}]}}`,
		`{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"no such method","data":null}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"JSONRPC":"2.0","ID":2,"Method":"x","id":3}`,
		`{"jsonrpc":"2.0","id":null,"error":null,"result":null,"params":null}`,
		`{"jsonrpc":"2.0","id":1e400}`,
		`{"jsonrpc":"2.0","id":1.5,"result":{}} x`,
		"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\",\"id\":1}",
		`{"jsonrpc":"2.0","id":[1],"result":1}`,
		`[{"jsonrpc":"2.0","id":1,"method":"a"}]`,
		` {"jsonrpc" : "2.0" , "id" : -0 , "result" : "\u0000"} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var fast, std wireMessage
		fastErr := fastjson.Unmarshal(in, &fast)
		stdErr := json.Unmarshal(in, &std)
		if (fastErr == nil) != (stdErr == nil) {
			t.Fatalf("%q: segmentio %v, encoding/json %v", in, fastErr, stdErr)
		}
		if stdErr == nil && !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q: segmentio read %#v, encoding/json %#v", in, fast, std)
		}
	})
}

// BenchmarkDecodeMessage: decodeMessage's envelope decoder beside
// encoding/json's on the same messages (a tools/call and its answer, the
// two a call decodes).
//
//	go test -run '^$' -bench DecodeMessage -count 3 -benchmem ./proxy
func BenchmarkDecodeMessage(b *testing.B) {
	msgs := [][]byte{
		[]byte(`{"jsonrpc":"2.0","id":446,"method":"tools/call","params":{"name":"greet","arguments":{"name":"b12"},"_meta":{"progressToken":446}}}`),
		[]byte(`{"jsonrpc":"2.0","id":446,"result":{"content":[{"type":"text","text":"Hello, b12! A greeting of a realistic length."}],"structuredContent":{"greeting":"Hello"},"isError":false}}`),
	}
	b.Run("segmentio", func(b *testing.B) {
		for b.Loop() {
			for _, m := range msgs {
				if _, err := decodeMessage(m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			for _, m := range msgs {
				var w wireMessage
				if err := json.Unmarshal(m, &w); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
