// A simple subscriber in the MQTT.js README's style: subscribe with the object form, print five
// messages, end.
const mqtt = require("mqtt");
const client = mqtt.connect("mqtt://127.0.0.1:1883");
let received = 0;

client.on("connect", () => {
  client.subscribe({ "example/#": { qos: 1 } }, (err, granted) => {
    if (err) {
      console.error("subscribe failed", err.message);
      process.exit(1);
    }
    console.log("subscribed", granted.map((g) => `${g.topic}@${g.qos}`).join(","));
  });
});

client.on("message", (topic, message, packet) => {
  console.log(topic, message.toString(), packet.qos);
  if (++received === 5) {
    client.end();
  }
});
