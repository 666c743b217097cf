console.log(`post ran with ${process.env.STATE_from_pre} and ${process.env.STATE_from_main}`);
