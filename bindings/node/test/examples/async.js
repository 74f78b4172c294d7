// MQTT.js README, "Async / await": connectAsync, subscribeAsync, publishAsync, endAsync.
const mqtt = require("mqtt");

const doStuff = async () => {
  const client = await mqtt.connectAsync("mqtt://127.0.0.1:1883");
  const got = new Promise((resolve) => client.once("message", (topic, message) => resolve(`${topic} ${message}`)));
  try {
    const granted = await client.subscribeAsync("test/async", { qos: 1 });
    console.log("granted", JSON.stringify(granted));
    await client.publishAsync("test/async", "It works!", { qos: 1 });
    console.log(await got);
    await client.endAsync();
    console.log("Done");
  } catch (error) {
    console.log(error);
    process.exit(1);
  }
};

doStuff();
