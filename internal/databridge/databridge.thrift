// The WSO2 Carbon data-bridge Thrift interface, as spoken by Stratos cartridge agents, the Stratos
// load balancer and the CEP/DAS receivers (docs/stratos-wire.md §2.1, §2.2). WSO2 ships it as several
// files (Data, Exception and one per service); the wire only sees method names, field ids and field
// types, so one file serves. `make generate` (go generate ./internal/databridge/...) regenerates
// the Go code in gen/.

namespace go gen
namespace java org.wso2.carbon.databridge.commons.thrift

// Data (§2.2).

enum ThriftAttributeType {
  INT = 0,
  LONG = 1,
  FLOAT = 2,
  DOUBLE = 3,
  BOOL = 4,
  STRING = 5
}

struct ThriftAttribute {
  1: optional string name,
  2: optional ThriftAttributeType attributeType
}

struct ThriftEventBundle {
  1: optional string sessionId,
  2: optional i32 eventNum,
  3: optional list<i32> intAttributeList,
  4: optional list<i64> longAttributeList,
  5: optional list<double> doubleAttributeList,
  6: optional list<bool> boolAttributeList,
  7: optional list<string> stringAttributeList,
  8: optional map<i32, map<string, string>> arbitraryDataMapMap
}

// Exceptions (§2.1): each carries one message.

exception ThriftStreamDefinitionException {
  1: required string message
}

exception ThriftNoStreamDefinitionExistException {
  1: required string message
}

exception ThriftDifferentStreamDefinitionAlreadyDefinedException {
  1: required string message
}

exception ThriftMalformedStreamDefinitionException {
  1: required string message
}

exception ThriftUndefinedEventTypeException {
  1: required string message
}

exception ThriftSessionExpiredException {
  1: required string message
}

exception ThriftAuthenticationException {
  1: required string message
}

// The secure service (TLS port, 7711 by default): authentication, sessions and every call.
service ThriftSecureEventTransmissionService {
  string connect(1: string userName, 2: string password)
    throws (1: ThriftAuthenticationException ae),

  void disconnect(1: string sessionId),

  string defineStream(1: string sessionId, 2: string streamDefinition)
    throws (1: ThriftDifferentStreamDefinitionAlreadyDefinedException ade,
            2: ThriftMalformedStreamDefinitionException mtd,
            3: ThriftStreamDefinitionException tde,
            4: ThriftSessionExpiredException se),

  string findStreamId(1: string sessionId, 2: string streamName, 3: string streamVersion)
    throws (1: ThriftNoStreamDefinitionExistException tnde,
            2: ThriftSessionExpiredException se),

  void publish(1: ThriftEventBundle eventBundle)
    throws (1: ThriftUndefinedEventTypeException ue,
            2: ThriftSessionExpiredException se),

  bool deleteStreamById(1: string sessionId, 2: string streamId)
    throws (1: ThriftSessionExpiredException se),

  bool deleteStreamByNameVersion(1: string sessionId, 2: string streamName, 3: string streamVersion)
    throws (1: ThriftSessionExpiredException se)
}

// The plain service (TCP port, 7611 by default): the same calls minus connect and disconnect; the
// session id comes from the secure service.
service ThriftEventTransmissionService {
  string defineStream(1: string sessionId, 2: string streamDefinition)
    throws (1: ThriftDifferentStreamDefinitionAlreadyDefinedException ade,
            2: ThriftMalformedStreamDefinitionException mtd,
            3: ThriftStreamDefinitionException tde,
            4: ThriftSessionExpiredException se),

  string findStreamId(1: string sessionId, 2: string streamName, 3: string streamVersion)
    throws (1: ThriftNoStreamDefinitionExistException tnde,
            2: ThriftSessionExpiredException se),

  void publish(1: ThriftEventBundle eventBundle)
    throws (1: ThriftUndefinedEventTypeException ue,
            2: ThriftSessionExpiredException se),

  bool deleteStreamById(1: string sessionId, 2: string streamId)
    throws (1: ThriftSessionExpiredException se),

  bool deleteStreamByNameVersion(1: string sessionId, 2: string streamName, 3: string streamVersion)
    throws (1: ThriftSessionExpiredException se)
}
