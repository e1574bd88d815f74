package tables

import "testing"

func BenchmarkHistoryRow(b *testing.B) {
	events := sampleEvents()
	b.ReportAllocs()
	for b.Loop() {
		for i, ev := range events {
			if _, err := MarshalEntity(HistoryRow("order-42", "exec", i, ev)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkDecodeHistoryRow(b *testing.B) {
	var rows []*Entity
	for i, ev := range sampleEvents() {
		raw, err := MarshalEntity(HistoryRow("order-42", "exec", i, ev))
		if err != nil {
			b.Fatal(err)
		}
		e, err := UnmarshalEntity(raw)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, e)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range rows {
			if _, err := DecodeHistoryRow(e); err != nil {
				b.Fatal(err)
			}
		}
	}
}
