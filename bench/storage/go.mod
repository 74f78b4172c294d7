module github.com/hamqtt/hamqtt/bench/storage

go 1.24.0

require (
	github.com/hamqtt/hamqtt v0.0.0
	go.etcd.io/bbolt v1.4.3
)

require (
	github.com/eclipse/paho.mqtt.golang v1.5.1 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/net v0.44.0 // indirect
	golang.org/x/sync v0.17.0 // indirect
	golang.org/x/sys v0.36.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace github.com/hamqtt/hamqtt => ../..
