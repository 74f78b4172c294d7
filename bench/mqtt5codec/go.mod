module github.com/hamqtt/hamqtt/bench/mqtt5codec

go 1.24.0

require (
	github.com/eclipse/paho.golang v0.23.0
	github.com/hamqtt/hamqtt v0.0.0
)

require go.yaml.in/yaml/v3 v3.0.6 // indirect

replace github.com/hamqtt/hamqtt => ../..
