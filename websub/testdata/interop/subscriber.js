// A feed reader's WebSub side, written with an implementation of the
// protocol that is not ours (the npm package pubsubhubbub), for
// websub's TestInteropSubscriber. Usage:
//   node subscriber.js HUB TOPIC SECRET
// It listens on loopback, subscribes to TOPIC at HUB and prints each
// event as a JSON line on stdout: "listening", "subscribed" (the hub took
// the request), "subscribe"/"unsubscribe" (the hub verified the intent),
// "feed" (content whose signature the package checked), "denied",
// "error". A line "unsubscribe" on stdin unsubscribes.
'use strict';

const crypto = require('crypto');
const http = require('http');
const readline = require('readline');
const pubsubhubbub = require('pubsubhubbub');

const [hub, topic, secret] = process.argv.slice(2);
const say = (event, fields) => process.stdout.write(JSON.stringify(Object.assign({ event }, fields)) + '\n');

const subscriber = pubsubhubbub.createServer({ secret });
const server = http.createServer(subscriber.listener());

subscriber.on('subscribe', (d) => say('subscribe', { topic: d.topic, lease: d.lease }));
subscriber.on('unsubscribe', (d) => say('unsubscribe', { topic: d.topic }));
subscriber.on('denied', (d) => say('denied', { topic: d.topic, error: String(d.error || '') }));
subscriber.on('error', (e) => say('error', { error: String(e) }));
subscriber.on('feed', (d) => say('feed', {
  topic: d.topic,
  hub: d.hub,
  contentType: d.headers['content-type'],
  body: d.feed.toString('utf8'),
}));

const ask = (mode) => subscriber.setSubscription(mode, topic, hub, (err) => {
  if (err) {
    say('error', { mode, error: String(err), body: err.responseBody || '' });
  } else {
    say(mode === 'subscribe' ? 'subscribed' : 'unsubscribed', { topic });
  }
});

server.listen(0, '127.0.0.1', () => {
  subscriber.callbackUrl = 'http://127.0.0.1:' + server.address().port + '/callback';
  say('listening', { callback: subscriber.callbackUrl });
  ask('subscribe');
  // The package sends the hub HMAC-SHA1(secret, topic) as hub.secret, and
  // then checks signatures with the secret itself, so that no hub's
  // signature ever matches (andris9/pubsubhubbub issue 9, open): from
  // here on it checks them with the hub.secret it sent.
  subscriber.secret = crypto.createHmac('sha1', secret).update(topic).digest('hex');
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'unsubscribe') {
    ask('unsubscribe');
  }
});
process.stdin.on('end', () => server.close(() => process.exit(0)));
