package tables

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestMarshalEntityOrderAnnotationsAndNulls(t *testing.T) {
	ts := time.Date(2026, 12, 1, 19, 0, 12, 702760200, time.UTC)
	e := &Entity{PartitionKey: "p", RowKey: "r", KeyIndex: 2}
	e.Set("S", "a\"b")
	e.Set("Null", nil)
	e.Set("I", int32(-1))
	e.Set("B", true)
	e.Set("T", ts)
	e.Set("L", int64(1)<<40)
	e.Set("D", 1.0)
	e.Set("Bin", []byte{1, 2})
	e.Set("G", GUID("00000000-0000-0000-0000-000000000001"))
	e.Set("Inf", math.Inf(-1))
	got, err := MarshalEntity(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"S":"a\"b","PartitionKey":"p","RowKey":"r","I":-1,"B":true,` +
		`"T":"2026-12-01T19:00:12.7027602Z","T@odata.type":"Edm.DateTime",` +
		`"L":"1099511627776","L@odata.type":"Edm.Int64",` +
		`"D":1,"D@odata.type":"Edm.Double",` +
		`"Bin":"AQI=","Bin@odata.type":"Edm.Binary",` +
		`"G":"00000000-0000-0000-0000-000000000001","G@odata.type":"Edm.Guid",` +
		`"Inf":"-Infinity","Inf@odata.type":"Edm.Double"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := UnmarshalEntity(got)
	if err != nil {
		t.Fatal(err)
	}
	e.Delete("Null")
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", back, e)
	}
}

func TestMarshalEntityKeysLastAndErrors(t *testing.T) {
	e := &Entity{PartitionKey: "p", RowKey: "", KeyIndex: 99}
	e.Set("A", "x")
	got, err := MarshalEntity(e)
	if err != nil || string(got) != `{"A":"x","PartitionKey":"p","RowKey":""}` {
		t.Fatalf("got %s, %v", got, err)
	}
	for _, bad := range []Property{{"Timestamp", "x"}, {"RowKey", "x"}, {"odata.etag", "x"}, {"X", 3}, {"", "x"},
		{"T", time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)}, {"T", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		e := &Entity{Properties: []Property{bad}}
		if _, err := MarshalEntity(e); err == nil {
			t.Errorf("MarshalEntity accepted %#v", bad)
		}
	}
}

func TestUnmarshalEntityServiceForm(t *testing.T) {
	// Azurite's form: metadata first, annotation before value, Timestamp.
	raw := `{"odata.etag":"W/\"datetime'2026-12-01T19%3A00%3A32.6471956Z'\"","PartitionKey":"capture-large",` +
		`"RowKey":"0000000000000000","EventId":-1,"IsPlayed":false,"_Timestamp@odata.type":"Edm.DateTime",` +
		`"_Timestamp":"2026-12-01T19:00:32.64Z","N":null,"Big@odata.type":"Edm.Int64","Big":"-5",` +
		`"Dbl":2.5,"Whole@odata.type":"Edm.Double","Whole":3,"Short@odata.type":"Edm.DateTime","Short":"2026-12-01T19:00:32Z",` +
		`"odata.type":"x.y","Name@odata.mediaEditLink":"z","Timestamp":"2026-12-01T19:00:32.6471956Z"}`
	e, err := UnmarshalEntity([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if e.ETag != `W/"datetime'2026-12-01T19%3A00%3A32.6471956Z'"` {
		t.Errorf("ETag %q", e.ETag)
	}
	if want := time.Date(2026, 12, 1, 19, 0, 32, 647195600, time.UTC); !e.Timestamp.Equal(want) {
		t.Errorf("Timestamp %v", e.Timestamp)
	}
	if e.PartitionKey != "capture-large" || e.RowKey != "0000000000000000" || e.KeyIndex != 0 {
		t.Errorf("keys %q %q at %d", e.PartitionKey, e.RowKey, e.KeyIndex)
	}
	want := []Property{
		{"EventId", int32(-1)},
		{"IsPlayed", false},
		{"_Timestamp", time.Date(2026, 12, 1, 19, 0, 32, 640000000, time.UTC)},
		{"Big", int64(-5)},
		{"Dbl", 2.5},
		{"Whole", 3.0},
		{"Short", time.Date(2026, 12, 1, 19, 0, 32, 0, time.UTC)},
	}
	if !reflect.DeepEqual(e.Properties, want) {
		t.Errorf("properties\n got %#v\nwant %#v", e.Properties, want)
	}
}

func TestUnmarshalEntityKeyIndexAndDuplicates(t *testing.T) {
	e, err := UnmarshalEntity([]byte(`{"A":1,"B":"x","PartitionKey":"p","RowKey":"r","C":true,"A":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.KeyIndex != 2 || len(e.Properties) != 3 || e.Properties[0].Value != int32(2) {
		t.Fatalf("%#v", e)
	}
	for _, bad := range []string{
		`[]`, `{"A":{}}`, `{"A":[1]}`, `{"A@odata.type":"Edm.Int32","A":"x"}`,
		`{"A@odata.type":"Edm.Whatever","A":"x"}`, `{"A@odata.type":"Edm.DateTime","A":"nope"}`,
		`{"A@odata.type":"Edm.DateTime","A":"0000-12-31T23:00:00Z"}`,
		`{"PartitionKey":1}`, `{"A":1} x`, `{"A":1`,
	} {
		if _, err := UnmarshalEntity([]byte(bad)); err == nil {
			t.Errorf("UnmarshalEntity(%s) succeeded", bad)
		}
	}
}

func TestEntitySetKeepsPosition(t *testing.T) {
	e := &Entity{}
	e.Set("A", "1")
	e.Set("B", "2")
	e.Set("A", "3")
	e.Set("C", nil)
	if got := []string{e.Properties[0].Name, e.Properties[1].Name, e.Properties[2].Name}; !reflect.DeepEqual(got, []string{"A", "B", "C"}) {
		t.Fatal(got)
	}
	if v, _ := e.GetString("A"); v != "3" {
		t.Fatal(v)
	}
	if v, ok := e.Get("C"); !ok || v != nil {
		t.Fatal(v, ok)
	}
	e.KeyIndex = 2
	e.Delete("A")
	if e.KeyIndex != 1 || len(e.Properties) != 2 {
		t.Fatalf("%#v", e)
	}
}
