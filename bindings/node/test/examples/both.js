// MQTT.js README, "Example": subscribe, publish, print what arrives, end.
const mqtt = require("mqtt");
const client = mqtt.connect("mqtt://127.0.0.1:1883");

client.on("connect", () => {
  client.subscribe("presence", (err) => {
    if (!err) {
      client.publish("presence", "Hello mqtt");
    }
  });
});

client.on("message", (topic, message) => {
  // message is Buffer
  console.log(message.toString());
  client.end();
});
