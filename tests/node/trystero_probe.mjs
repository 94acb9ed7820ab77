// Trystero 0.25's own functions on the inputs of tests/node/test_wire.py (argv[2]: JSON):
// {coreDist, topic, selfId, text, pythonCipher, seed, items} -> JSON of what Trystero computes.
const input = JSON.parse(process.argv[2]);
const crypto = await import(`${input.coreDist}/crypto.mjs`);
const utils = await import(`${input.coreDist}/utils.mjs`);
const appId = input.topic, roomId = `${input.topic}T`;
const key = crypto.genKey("", appId, roomId);
const rootPlain = utils.topicPath(utils.libName, appId, roomId);
console.log(JSON.stringify({
  rootTopic: await crypto.sha1(rootPlain),
  peerTopic: await crypto.sha1(utils.topicPath(rootPlain, input.selfId)),
  roomToken: await crypto.deriveRoomNamespace(appId, roomId),
  jsCipher: await crypto.encrypt(key, input.text),
  decrypted: await crypto.decrypt(key, input.pythonCipher),
  shuffled: utils.shuffle(input.items, input.seed),
  strToNum: utils.strToNum(appId),
}));
