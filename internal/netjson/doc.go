// Package netjson reads and writes JSON the way Newtonsoft.Json (the serializer
// behind DurableTask.AzureStorage) does, so that bytes written by azdurable are
// the bytes a C# peer writes.
//
// Design note. encoding/json is close but not identical: member order must be
// hand-controlled (C# member order, "$type" first), nulls are written, strings
// are escaped with Newtonsoft's default table (control characters, '"', '\\',
// U+0085, U+2028 and U+2029 only; never '<', '>' or '&'), and DateTime values
// use .NET's round-trip form with trailing fraction zeros trimmed. The Writer
// is therefore a small append-only builder. Reading is lenient in the way
// Newtonsoft is: member names match case-insensitively, the last duplicate
// wins, unknown members are ignored, and numbers may also arrive as strings.
package netjson
