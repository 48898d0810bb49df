/** A small pure libpcap reader and an Ethernet/IPv4/UDP extractor (for golden tests on real captures). */
export {
  LinkType,
  PcapError,
  type PcapFile,
  type PcapRecord,
  readPcap,
  type UdpDatagram,
  udpDatagram,
} from './reader.ts'
