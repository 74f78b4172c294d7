// A simple publisher in the MQTT.js README's style: publish at QoS 1 and end once acknowledged.
const mqtt = require("mqtt");
const client = mqtt.connect("mqtt://127.0.0.1:1883");

client.on("connect", () => {
  for (let i = 1; i <= 5; i++) {
    client.publish("example/news", `news ${i}`, { qos: 1 }, (err) => {
      if (err) {
        console.error("publish failed", err.message);
        process.exitCode = 1;
      }
    });
  }
  client.end(() => {
    console.log("published 5");
  });
});
