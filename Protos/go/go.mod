module subsidyd.local/client

go 1.19

require google.golang.org/protobuf v1.28.1

// The runtime is Debian's golang-google-protobuf-dev (no module downloads): see README.md.
replace google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
