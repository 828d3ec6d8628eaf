// A test stand-in for OSCRouterClient (HyperDisCo quark), written for this project's interop
// tests: the same constructor, methods and observable behaviour the shipped examples rely on,
// so examples/supercollider/oscrouterclient.scd runs unmodified in a headless sclang where the
// quark is not installed. It is not the quark's code.
//
// What it reproduces: join connects with NetAddr.tryConnectTCP, sends /oscrouter/register with
// a random id, recognises the reply /oscrouter/register/<user>/<id> with a plain receive
// function (any port), then listens on that TCP receive port for user lists, private messages
// and the responders added with addResp, calls onJoined, and, if no reply came within 3 s,
// posts "OSCRouterClient('<user>', '<group>') : could not connect or auth with <address>". sendMsg goes straight to NetAddr.sendMsg: before
// the TCP connection is up NetAddr sends over UDP, as the quark's client does.
OSCRouterClient {
	var <userName, <groupName, <serverAddr, <userPassword, <groupPassword, <serverPort, <onJoined;
	var <netAddr, <tcpRecvPort, <peers, <hasJoined = false;
	var responderFuncs, responders, privateFuncs, ownFuncs;

	*new { |userName, groupName = 'oscrouter', serverAddr = "127.0.0.1", userPassword,
		groupPassword = 'oscrouter', serverPort = 55555, onJoined|
		^super.new.prInit(userName.asSymbol, groupName.asSymbol, serverAddr.asString,
			userPassword.asSymbol, groupPassword.asSymbol, serverPort, onJoined)
	}

	prInit { |user, group, addr, userPw, groupPw, port, joined|
		userName = user; groupName = group; serverAddr = addr;
		userPassword = userPw; groupPassword = groupPw; serverPort = port; onJoined = joined;
		peers = [];
		responderFuncs = (); responders = (); privateFuncs = (); ownFuncs = List[];
	}

	join { |onSuccess, onFailure|
		var id = 999999.rand, expected, replyFunc, timeout;
		expected = "/oscrouter/register/%/%".format(userName, id);
		replyFunc = { |msg, time, addr, recvPort|
			if (msg[0].asString == expected) {
				thisProcess.removeOSCRecvFunc(replyFunc);
				timeout.stop;
				tcpRecvPort = recvPort;
				this.prJoined;
				onJoined.value(this);
				onSuccess.value;
			}
		};
		timeout = Task({
			3.wait;
			"%('%', '%') : could not connect or auth with %".format(this.class.name, userName, groupName, serverAddr).postln;
			thisProcess.removeOSCRecvFunc(replyFunc);
		});
		thisProcess.addOSCRecvFunc(replyFunc);
		netAddr = NetAddr(serverAddr, serverPort);
		netAddr.tryConnectTCP({
			netAddr.sendMsg('/oscrouter/register', userName, userPassword, groupName, groupPassword, id);
			timeout.play;
		}, {
			("Failed to connect to " ++ serverAddr).postln;
			onFailure.value;
		});
	}

	prJoined {
		hasJoined = true;
		ownFuncs.add(OSCFunc({ |msg| peers = msg[1..] }, '/oscrouter/userlist', recvPort: tcpRecvPort));
		ownFuncs.add(OSCFunc({ |msg|
			privateFuncs[msg[2]] !? { |func| func.value(msg[1], msg[2..]) }
		}, '/oscrouter/private', recvPort: tcpRecvPort));
		responderFuncs.keysValuesDo { |path, func| this.prResponder(path, func) };
		("Connected to " ++ serverAddr).postln;
	}

	prResponder { |path, func|
		responders[path].free;
		responders[path] = OSCFunc(func, path, netAddr, recvPort: tcpRecvPort);
	}

	addResp { |path, func|
		responderFuncs[path] = func;
		if (hasJoined) { this.prResponder(path, func) };
	}

	removeResp { |path|
		responders[path].free;
		responders[path] = nil;
		responderFuncs[path] = nil;
	}

	addPrivateResp { |key, func| privateFuncs[key] = func }

	sendMsg { |...msg| netAddr.sendMsg(*msg) }

	sendPrivate { |user ...args|
		if (peers.includes(user.asSymbol)) {
			this.sendMsg('/oscrouter/private', user, *args);
		} {
			"sendMsgToUser: unknown user %\n".postf(user.cs);
		}
	}

	close {
		hasJoined = false;
		responders.do(_.free); responders = ();
		ownFuncs.do(_.free); ownFuncs = List[];
		if (netAddr.notNil and: { netAddr.isConnected }) { netAddr.tryDisconnectTCP };
	}
}
