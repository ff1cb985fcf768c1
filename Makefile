.PHONY: proto
PROTOC ?= protoc
proto: ## regenerate proto/*.pb.go (needs Debian's protobuf-compiler)
	$(PROTOC) --plugin=protoc-gen-go=$$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$$(go tool -n protoc-gen-go-grpc) \
	  -I proto --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	  kvpb/kv.proto fsmpb/command.proto
