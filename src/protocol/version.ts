/** Version of the wire protocols spoken on a manhole socket (human line mode and, later, structured mode). */
export const PROTOCOL_VERSION = 1;

/** Name written in descriptors and banners so clients can recognise a manhole. */
export const AGENT_NAME = "manhole";
